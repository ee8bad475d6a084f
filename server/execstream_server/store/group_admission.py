"""Admission of a whole commit group, shared by the stores, with resent seqs checked.

Each report of a group is admitted in order against the gates the earlier ones left (an
overlay over the store's gates), and a resent seq is compared with the committed event's
content digest. Digests are read only when a group holds a duplicate that no earlier
report of the group explains: ``admit_checked`` fetches those and admits the group again,
so a group without resends never reads one. The stores keep no digests: they find the
committed event of a resent seq through their task index and compute its digest then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from execstream.v1 import events_pb2 as events_pb
from google.protobuf import timestamp_pb2

from execstream_server.domain.admission import Admission, Gate, admission_bug, admit
from execstream_server.domain.cost import Pricer
from execstream_server.domain.digests import UNKNOWN_DIGEST, SeqKey, content_digest
from execstream_server.domain.errors import DomainError
from execstream_server.domain.records import ReportFrame
from execstream_server.store.group_commit import Submission

Outcome = Admission | DomainError
FetchDigests = Callable[[set[SeqKey]], Awaitable[Mapping[SeqKey, bytes]]]


@dataclass(slots=True)
class GroupAdmission:
    """Each report's outcome, the gates after the group, and the digests it still needs."""

    outcomes: list[tuple[Submission, Outcome]] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)
    unchecked: set[SeqKey] = field(default_factory=set)


def admit_group(
    submissions: Sequence[Submission],
    gate_of: Callable[[str], Gate | None],
    pricer: Pricer,
    committed_digests: Mapping[SeqKey, bytes],
) -> GroupAdmission:
    """Admit each report in order, each seeing what the earlier ones accepted."""
    group = GroupAdmission()
    overlay = group.gates
    # The group's accepted events by (task, seq): a later report's resend is compared with
    # them (their digests are computed only then).
    accepted: dict[SeqKey, events_pb.ExecutionEvent] = {}

    def lookup(task_id: str) -> Gate | None:
        return overlay.get(task_id) or gate_of(task_id)

    def digest_of(task_id: str, seq: int) -> bytes | None:
        key = (task_id, seq)
        earlier = accepted.get(key)
        return content_digest(earlier) if earlier is not None else committed_digests.get(key)

    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    for sub in submissions:
        try:
            admission = admit(sub.sidecar_id, sub.events, lookup, pricer, now, digest_of)
        except DomainError as exc:
            group.outcomes.append((sub, exc))
            continue
        except Exception as exc:  # a bug in admission: it touched nothing, refuse the one
            group.outcomes.append((sub, admission_bug(exc)))
            continue
        overlay.update(admission.gates)
        for event in admission.accepted:
            accepted[(event.task_id, event.seq)] = event
        group.unchecked |= admission.unchecked
        group.outcomes.append((sub, admission))
    return group


async def admit_checked(
    submissions: Sequence[Submission],
    gate_of: Callable[[str], Gate | None],
    pricer: Pricer,
    fetch: FetchDigests,
) -> GroupAdmission:
    """``admit_group`` until every duplicate was compared (fetching digests as needed).

    Each round fetches digests the previous one lacked; a refused report can change what
    later reports see, so a round may ask for more, but never for a key twice.
    """
    known: dict[SeqKey, bytes] = {}
    while True:
        group = admit_group(submissions, gate_of, pricer, known)
        missing = group.unchecked - known.keys()
        if not missing:
            return group
        fetched = await fetch(missing)
        for key in missing:
            known[key] = fetched.get(key, UNKNOWN_DIGEST)


def merged_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Revision spans with overlapping or adjacent ones merged, ascending."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def digests_in(frames: Iterable[ReportFrame], wanted: set[SeqKey]) -> dict[SeqKey, bytes]:
    """The content digests of the committed ``wanted`` (task, seq) among stored frames.

    Each frame is parsed once however many resent seqs it holds (a resent report of
    thousands of events must not parse its frames once per event). A key not found was
    compacted: the caller answers UNKNOWN_DIGEST for it.
    """
    tasks = {task_id for task_id, _ in wanted}
    found: dict[SeqKey, bytes] = {}
    for frame in frames:
        if tasks.isdisjoint(frame.keys.task_ids):
            continue
        for event in frame.events():
            key = (event.task_id, event.seq)
            if key in wanted:
                found[key] = content_digest(event)
    return found
