"""Group commit for the Redis store: admit in Python, compare-and-set in Redis.

``admission.admit`` stays the one place the rules live (dedupe, gaps, ownership, terminal
refusal, cost stamping). It runs against a per-replica cache of gates; ``commit.lua`` then
checks that every task the group touched still has the last_seq the cache said, and only
then assigns revisions and appends. A stale cache (another replica took the sidecar's
stream, or an earlier reply was lost) comes back as a CONFLICT carrying the current gates;
the group is admitted again with them. So a refusal, too, is decided on Redis's state.

Content digests of accepted events go to one string per task (8 bytes per seq, written
with SETRANGE at the seq's offset); a committed seq's digest never changes, so digests
fetched for resent seqs before the CAS stay right whatever the CAS decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from execstream.v1 import events_pb2 as events_pb

from execstream_server.domain.admission import Admission, Gate
from execstream_server.domain.cost import Pricer
from execstream_server.domain.digests import DIGEST_BYTES, SeqKey
from execstream_server.domain.errors import ExecstreamError
from execstream_server.domain.events import SERVER_AUTHOR, kind_of
from execstream_server.domain.lifecycle import is_terminal
from execstream_server.domain.records import CommittedBatch, EventRecord, encode_varint
from execstream_server.store.base import AppendResult
from execstream_server.store.group_admission import admit_group, digest_chunks
from execstream_server.store.group_commit import Submission
from execstream_server.store.redis_scripts import RedisKeys, gate_to_bytes

# ExecutionEvent.revision: field 4, varint (commit.lua appends the same bytes).
_REVISION_TAG = b"\x20"


class GateCache:
    """This replica's view of the gates; Redis holds the truth and the CAS enforces it.

    Finished tasks are dropped: they rarely see another event, and a late duplicate costs
    one CONFLICT round trip. So the cache holds the running tasks, not every task ever.
    """

    def __init__(self) -> None:
        self._gates: dict[str, Gate] = {}

    def get(self, task_id: str) -> Gate | None:
        return self._gates.get(task_id)

    def last_seq(self, task_id: str) -> int:
        gate = self._gates.get(task_id)
        return gate.last_seq if gate is not None else 0

    def refresh(self, gates: dict[str, Gate | None]) -> None:
        """Take the current gates Redis sent with a CONFLICT (``None``: no such task)."""
        for task_id, gate in gates.items():
            if gate is None:
                self._gates.pop(task_id, None)
            else:
                self._gates[task_id] = gate

    def committed(self, gates: dict[str, Gate]) -> None:
        """Take the gates a commit wrote, dropping the finished tasks'."""
        for task_id, gate in gates.items():
            if is_terminal(gate.status):
                self._gates.pop(task_id, None)
            else:
                self._gates[task_id] = gate

    def __len__(self) -> int:
        return len(self._gates)


@dataclass(slots=True)
class GroupPlan:
    """A group admitted against the cache: what to check, write and answer."""

    outcomes: list[tuple[Submission, Admission | ExecstreamError]] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    unchecked: set[SeqKey] = field(default_factory=set)
    payloads: list[bytes] = field(default_factory=list)  # accepted events, serialized once

    @property
    def event_count(self) -> int:
        return sum(len(o.accepted) for _, o in self.outcomes if isinstance(o, Admission))

    def digest_args(self, keys: RedisKeys) -> tuple[list[str], list[Any]]:
        """``commit.lua``'s digest KEYS (one per task) and the ARGV that goes with them."""
        chunks = digest_chunks(self.outcomes)
        args: list[Any] = [len(chunks)]
        for chunk in chunks:
            args += [(chunk.first_seq - 1) * DIGEST_BYTES, chunk.digests]
        return [keys.digests(chunk.task_id) for chunk in chunks], args

    def script_args(self) -> list[Any]:
        """``commit.lua``'s ARGV after known_revision and replica_id, before the digests."""
        args: list[Any] = [len(self.expected)]
        for task_id, last_seq in self.expected.items():
            args += [task_id, last_seq]
        args.append(len(self.gates))
        for task_id, gate in self.gates.items():
            args += [task_id, gate.last_seq, gate_to_bytes(task_id, gate)]
        args.append(self.event_count)
        self.payloads = []
        for _, outcome in self.outcomes:
            if isinstance(outcome, Admission):
                for event in outcome.accepted:
                    payload = event.SerializeToString()
                    self.payloads.append(payload)
                    args += [event.task_id, event.sidecar_id, kind_of(event), payload]
        return args


def plan_group(
    submissions: Sequence[Submission],
    cache: GateCache,
    pricer: Pricer,
    digests: Mapping[SeqKey, bytes],
) -> GroupPlan:
    """Admit each report in order, each seeing the gates the earlier ones left."""
    plan = GroupPlan()
    for sub in submissions:
        if sub.sidecar_id == SERVER_AUTHOR:
            continue  # the server's own events touch no gate: nothing to compare
        for event in sub.events:
            if event.task_id not in plan.expected:
                plan.expected[event.task_id] = cache.last_seq(event.task_id)
    group = admit_group(submissions, cache.get, pricer, digests)
    plan.outcomes, plan.gates, plan.unchecked = group.outcomes, group.gates, group.unchecked
    return plan


def settle(
    plan: GroupPlan, first_revision: int
) -> tuple[CommittedBatch | None, list[tuple[Submission, AppendResult | ExecstreamError]]]:
    """Give the committed events their revisions; pair each report with its answer.

    Call after ``script_args`` (it serialized the payloads). Each payload gets the revision
    bytes ``commit.lua`` appended, so the batch handed to the engine equals what other
    replicas read from the stream.
    """
    revision = first_revision - 1
    payloads = iter(plan.payloads)
    records: list[EventRecord] = []
    events: list[events_pb.ExecutionEvent] = []
    answers: list[tuple[Submission, AppendResult | ExecstreamError]] = []
    for sub, outcome in plan.outcomes:
        if isinstance(outcome, ExecstreamError):
            answers.append((sub, outcome))
            continue
        for event in outcome.accepted:
            revision += 1
            payload = next(payloads) + _REVISION_TAG + encode_varint(revision)
            event.revision = revision
            records.append(
                EventRecord(revision, event.task_id, event.sidecar_id, kind_of(event), payload)
            )
            events.append(event)
        result = AppendResult(len(outcome.accepted), outcome.duplicates, revision, outcome.last_seq)
        answers.append((sub, result))
    batch = CommittedBatch(records, events) if records else None
    return batch, answers
