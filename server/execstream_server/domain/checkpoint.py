"""Checkpoint blobs: many task states and their revision in one value, parsed in one call.

A checkpoint is a chain: one *base* holding every task, then *deltas* holding only the
tasks that changed since the previous link, each at its revision. Restoring reads the
chain in order, a later state of a task replacing an earlier one, then refolds the log
after the last link's revision. Writing a delta costs only the changed tasks; when the
deltas together outgrow the base, the next link is a new base and the older ones can go.

A blob is ``MAGIC``, a format version byte, then the bytes of an ``execstream.v1.Snapshot``
holding ``revision`` and ``tasks``: the generated parser reads all the states of a blob in
C, in one call, which keeps a restart with 100k tasks well under a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from google.protobuf.message import DecodeError

MAGIC = b"XSCK"
VERSION = 1
_HEADER = MAGIC + bytes((VERSION,))
_TAG_REVISION = b"\x08"  # Snapshot.revision: field 1, varint
_TAG_TASKS = b"\x12"  # Snapshot.tasks: field 2, length-delimited


class CheckpointFormatError(ValueError):
    """A stored checkpoint this version cannot read; the message says what to do."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode(states: Iterable[bytes], revision: int) -> bytes:
    """A blob of already serialised ``TaskState``s at ``revision``."""
    parts = [_HEADER, _TAG_REVISION, _varint(revision)]
    for state in states:
        parts += (_TAG_TASKS, _varint(len(state)), state)
    return b"".join(parts)


def decode(blob: bytes) -> tuple[int, Sequence[state_pb.TaskState]]:
    """(revision, states) of one blob; CheckpointFormatError when it is not one of ours."""
    if not blob.startswith(MAGIC):
        raise CheckpointFormatError("not an execstream checkpoint (bad magic)")
    version = blob[len(MAGIC)] if len(blob) > len(MAGIC) else None
    if version != VERSION:
        raise CheckpointFormatError(
            f"checkpoint format {version} is not {VERSION}, the one this server reads: "
            "run the execstream version that wrote it"
        )
    try:
        snapshot = service_pb.Snapshot.FromString(blob[len(_HEADER) :])
    except DecodeError as exc:
        raise CheckpointFormatError(f"a checkpoint blob is corrupt: {exc}") from exc
    return snapshot.revision, snapshot.tasks


@dataclass
class Chain:
    """What a restart rebuilds from the links, in the order they were written."""

    revision: int = 0
    tasks: dict[str, state_pb.TaskState] = field(default_factory=dict)
    base_bytes: int = 0
    delta_bytes: int = 0

    def add(self, blob: bytes, *, base: bool) -> None:
        revision, states = decode(blob)
        if revision < self.revision:
            raise CheckpointFormatError(
                f"checkpoint links out of order: revision {revision} after {self.revision}"
            )
        if base:
            self.tasks.clear()
            self.base_bytes, self.delta_bytes = len(blob), 0
        else:
            self.delta_bytes += len(blob)
        for state in states:
            self.tasks[state.task_id] = state
        self.revision = revision

    @property
    def wants_new_base(self) -> bool:
        """Deltas outgrew the base: the next checkpoint should rewrite every task."""
        return self.delta_bytes > max(self.base_bytes, 1 << 20)


def restore(links: Iterable[tuple[bytes, bool]]) -> Chain:
    """Replay ``(blob, is_base)`` links in write order."""
    chain = Chain()
    for blob, base in links:
        chain.add(blob, base=base)
    return chain
