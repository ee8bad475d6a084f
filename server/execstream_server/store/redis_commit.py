"""Group commit for the Redis store: admit in Python, compare-and-set in Redis.

``admission.admit`` stays the one place the rules live (dedupe, gaps, ownership, terminal
refusal, cost stamping). It runs against a per-replica cache of gates; ``commit.lua`` then
checks that every task the group touched still has the last_seq the cache said, and only
then assigns revisions and appends. A stale cache (another replica took the sidecar's
stream, or an earlier reply was lost) comes back as a CONFLICT carrying the current gates;
the group is admitted again with them. So a refusal, too, is decided on Redis's state.

Each report is one stream entry holding its frame (``group_frames``), and each task's
revision span per commit goes to its task index (a zset), which filtered replays read and
where a resent seq finds the committed event it is compared with; a committed event never
changes, so digests fetched before the CAS stay right whatever the CAS decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from execstream_server.domain.admission import Gate
from execstream_server.domain.cost import Pricer
from execstream_server.domain.digests import SeqKey
from execstream_server.domain.events import SERVER_AUTHOR
from execstream_server.domain.lifecycle import is_terminal
from execstream_server.domain.records import CommittedBatch
from execstream_server.domain.report_keys import encode as encode_keys
from execstream_server.store.group_admission import Outcome, admit_group
from execstream_server.store.group_commit import Submission
from execstream_server.store.group_frames import Answer, FramePlan, plan_frames, stamp
from execstream_server.store.redis_scripts import RedisKeys, gate_to_bytes


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

    outcomes: list[tuple[Submission, Outcome]] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    unchecked: set[SeqKey] = field(default_factory=set)
    frames: FramePlan = field(default_factory=FramePlan)

    def script_args(self, keys: RedisKeys) -> tuple[list[Any], list[str]]:
        """``commit.lua``'s ARGV after known_revision and replica_id, and its chunk KEYS."""
        args: list[Any] = [len(self.expected)]
        for task_id, last_seq in self.expected.items():
            args += [task_id, last_seq]
        args.append(len(self.gates))
        for task_id, gate in self.gates.items():
            args += [task_id, gate.last_seq, gate_to_bytes(task_id, gate)]
        self.frames = plan_frames(self.outcomes)
        args.append(len(self.frames.frames))
        finished: list[Any] = []
        index = 0
        for planned in self.frames.frames:
            args += [planned.keys.sidecar_id, encode_keys(planned.keys), len(planned.payloads)]
            args += planned.payloads
            for event in planned.events:
                if event.HasField("finished"):
                    finished += [event.task_id, index]
                index += 1
        chunk_keys: list[str] = []
        args.append(len(self.frames.chunks))
        for chunk in self.frames.chunks:
            args += [chunk.first_index, chunk.last_index, chunk.first_seq]
            chunk_keys.append(keys.task_index(chunk.task_id))
        args += [len(finished) // 2, *finished]
        return args, chunk_keys


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
    plan: GroupPlan, first_revision: int, committed_ms: int
) -> tuple[CommittedBatch | None, list[tuple[Submission, Answer]]]:
    """Give the committed events their revisions; pair each report with its answer.

    Call after ``script_args`` (it planned the frames). The frames are built here with the
    same bytes ``commit.lua`` stored, so the batch handed to the engine equals what other
    replicas read from the stream.
    """
    frames, events, answers = stamp(plan.frames, plan.outcomes, first_revision, committed_ms)
    return (CommittedBatch(frames, events) if frames else None), answers
