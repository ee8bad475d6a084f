"""The storage interface: a durable, revisioned log with admission and task checkpoints.

A store admits reports (``admission.admit`` against its gates), assigns gap-free revisions,
commits durably and only then resolves ``append``. Each report is stored as one frame
(``records.ReportFrame``: its ready-to-send watch response and its keys). Committed batches
come out of ``batches()`` in revision order, for the engine to fold and fan out; for a
shared store that includes batches other replicas wrote. Watchers catch up with
``read_frames`` (through a (task, revision) index when they watch some tasks); ``read``
gives the same events one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.config import Retention
from execstream_server.domain.admission import Gate
from execstream_server.domain.records import CommittedBatch, EventRecord, FramePage, ReportFrame


@dataclass(slots=True)
class Recovery:
    """What a store holds at open: the checkpointed states and the log's bounds."""

    tasks: dict[str, state_pb.TaskState]
    checkpoint_revision: int
    revision: int
    oldest_revision: int
    # The log's identity: random, chosen when the log was created, kept with it.
    log_id: str


@dataclass(slots=True)
class AppendResult:
    """The outcome of one admitted report, after its commit."""

    accepted: int
    duplicates: int
    last_revision: int
    last_seq: dict[str, int] = field(default_factory=dict)


class LogStore(Protocol):
    """One durable log; see the module docstring for the guarantees."""

    async def open(self) -> Recovery:
        """Open (creating if needed) and return the checkpoint to rebuild state from."""

    async def append(
        self, sidecar_id: str, events: Sequence[events_pb.ExecutionEvent]
    ) -> AppendResult:
        """Admit and durably commit one report; raise a domain error to refuse it whole.

        The store takes the events over: admission stamps them in place (``sidecar_id``,
        ``revision``, ``attempt``, ``time``, server-priced costs), so a caller must not
        reuse them for anything but a resend of the same report.
        """

    def batches(self) -> AsyncIterator[CommittedBatch]:
        """Committed batches after the revision ``open`` returned, in order, forever."""

    async def read_frames(
        self, after_revision: int, *, max_bytes: int, task_ids: frozenset[str] | None = None
    ) -> FramePage:
        """Stored frames holding the events after ``after_revision``, in order.

        The first frame may start at or before ``after_revision`` (slice it). ``max_bytes``
        bounds the frame bytes returned (about: at least one frame comes back when there is
        one). With ``task_ids``, only frames holding events of those tasks (and maybe a
        few others) are read. RevisionCompactedError when ``after_revision`` is gone.
        """

    async def read(
        self, after_revision: int, *, limit: int, max_bytes: int | None = None
    ) -> list[EventRecord]:
        """Up to ``limit`` events with revision > after_revision; RevisionCompactedError if gone.

        ``max_bytes`` bounds the payload bytes returned (about: a store may pass it by one
        small read); at least one event comes back when there is one.
        """

    async def committed_seqs(self, tasks: Mapping[str, str]) -> dict[str, int]:
        """The committed last seq of each task (task_id -> the sidecar asking).

        0 for a task that does not exist; tasks owned by another sidecar are left out.
        """

    async def head_revision(self) -> int:
        """The last revision committed to the log (for a shared log: by any replica)."""

    async def claim(self, name: str, ttl_s: float) -> bool:
        """True for one caller of ``name`` per ``ttl_s`` (over every replica of a shared log)."""

    async def checkpoint(self, states: Sequence[bytes], revision: int) -> None:
        """Persist task states folded through ``revision`` (bounds the replay at restart).

        ``states`` are serialised ``TaskState``s: the caller serialises them at
        ``revision``, since its states change in place as later batches fold.
        """

    async def compact(self, retention: Retention) -> int:
        """Drop events outside ``retention`` (never past the checkpoint); return how many."""

    @property
    def shared(self) -> bool:
        """True when other replicas write the same log (each counts only its own commits)."""

    @property
    def log_id(self) -> str:
        """The log's identity (as ``open`` returned it)."""

    @property
    def oldest_revision(self) -> int:
        """The oldest revision still readable (last revision + 1 when the log is empty)."""

    async def close(self) -> None:
        """Flush and release everything; idempotent."""


def committed_seqs(
    gate_of: Callable[[str], Gate | None], tasks: Mapping[str, str]
) -> dict[str, int]:
    """``LogStore.committed_seqs`` over committed gates."""
    found: dict[str, int] = {}
    for task_id, sidecar_id in tasks.items():
        gate = gate_of(task_id)
        if gate is None:
            found[task_id] = 0
        elif gate.owner == sidecar_id:
            found[task_id] = gate.last_seq
    return found


def records_after(
    frames: Sequence[ReportFrame], after_revision: int, limit: int, max_bytes: int | None = None
) -> list[EventRecord]:
    """``LogStore.read`` over frames: their events after ``after_revision``, ``limit`` at most,
    and past ``max_bytes`` of payload by one event at most."""
    found: list[EventRecord] = []
    size = 0
    for frame in frames:
        if frame.last_revision <= after_revision:
            continue
        for record in frame.records():
            if record.revision <= after_revision:
                continue
            size += len(record.payload)
            if len(found) >= limit or (found and max_bytes is not None and size > max_bytes):
                return found
            found.append(record)
    return found


_READ_PAGE_BYTES = 16 * 1024 * 1024  # ``read`` without a byte bound reads pages of this size


async def read_records(
    store: LogStore, after_revision: int, limit: int, max_bytes: int | None
) -> list[EventRecord]:
    """``LogStore.read`` by way of ``read_frames`` (one page when ``max_bytes`` is given)."""
    found: list[EventRecord] = []
    cursor = after_revision
    while len(found) < limit:
        page = await store.read_frames(cursor, max_bytes=max_bytes or _READ_PAGE_BYTES)
        found += records_after(page.frames, cursor, limit - len(found), max_bytes)
        if max_bytes is not None or not page.frames:
            break
        cursor = page.frames[-1].last_revision
    return found
