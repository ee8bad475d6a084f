"""Checkpoint blobs: many task states and their revision in one value, parsed in one call.

A checkpoint is a chain: one *base* holding every task, then *deltas* holding only the
tasks that changed since the previous link, each at its revision. Restoring reads the
chain in order, a later state of a task replacing an earlier one, then refolds the log
after the last link's revision. Writing a delta costs only the changed tasks; when the
deltas together outgrow the base, the next link is a new base and the older ones can go.

A blob is ``MAGIC``, a format version byte, then the bytes of an ``execstream.v1.Snapshot``
holding ``revision`` and ``tasks``: the generated parser reads all the states of a blob in
C, in one call, which keeps a restart with 100k tasks well under a second. ``merge`` turns a
chain into one base without parsing a state: each entry's task id is its first field.

Links may be written out of revision order when several replicas share a store; each
link holds its tasks' states at its revision, so ``restore`` applies them sorted by
revision, from the last base on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb
from google.protobuf.message import DecodeError

from execstream_server.domain.frames import FrameError, read_varint

MAGIC = b"XSCK"
VERSION = 1
_HEADER = MAGIC + bytes((VERSION,))
_TAG_REVISION = b"\x08"  # Snapshot.revision: field 1, varint
_TAG_TASKS = b"\x12"  # Snapshot.tasks: field 2, length-delimited
# Deltas are merged into a new base once they outgrow the base, and never below this.
MIN_REBASE_BYTES = 1 << 20


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


def wants_new_base(base_bytes: int, delta_bytes: int) -> bool:
    """Deltas outgrew the base: the chain should be merged into one base (the stores ask)."""
    return delta_bytes > max(base_bytes, MIN_REBASE_BYTES)


def restore(links: Iterable[tuple[bytes, bool]]) -> Chain:
    """Replay ``(blob, is_base)`` links by revision (a base first among equals)."""
    chain = Chain()
    for _, _, blob, base in _ordered(links):
        chain.add(blob, base=base)
    return chain


def _ordered(links: Iterable[tuple[bytes, bool]]) -> list[tuple[int, bool, bytes, bool]]:
    """The links from the last base on, sorted by (revision, base first), revisions read."""
    keyed = [(revision_of(blob), not base, blob, base) for blob, base in links]
    keyed.sort(key=lambda link: (link[0], link[1]))
    bases = [i for i, link in enumerate(keyed) if link[3]]
    return keyed[bases[-1] :] if bases else keyed


def _header_end(blob: bytes) -> int:
    if not blob.startswith(_HEADER):
        decode(blob[: len(_HEADER)])  # raises the precise format error
    return len(_HEADER)


def revision_of(blob: bytes) -> int:
    """The revision a blob's states fold through, read without parsing them."""
    pos = _header_end(blob)
    if blob[pos : pos + 1] != _TAG_REVISION:
        return 0  # revision 0 is not written (proto3 default)
    try:
        return read_varint(blob, pos + 1)[0]
    except FrameError as exc:
        raise CheckpointFormatError(f"a checkpoint blob is corrupt: {exc}") from exc


def _states(blob: bytes) -> Iterator[bytes]:
    """The serialised TaskStates of a blob, as they are stored."""
    pos, end = _header_end(blob), len(blob)
    try:
        while pos < end:
            tag, pos = read_varint(blob, pos)
            value, pos = read_varint(blob, pos)
            if tag == _TAG_TASKS[0]:
                if pos + value > end:
                    raise FrameError("a task state runs past the blob's end")
                yield blob[pos : pos + value]
                pos += value
            elif tag != _TAG_REVISION[0]:
                raise FrameError(f"unexpected tag {tag:#x}")
    except FrameError as exc:
        raise CheckpointFormatError(f"a checkpoint blob is corrupt: {exc}") from exc


def _task_id(state: bytes) -> bytes:
    """TaskState.task_id (field 1), the first field of every state the server serialises."""
    if state[:1] != b"\x0a":
        raise CheckpointFormatError("a checkpointed task state does not start with its id")
    size, pos = read_varint(state, 1)
    return state[pos : pos + size]


def merge(links: Iterable[tuple[bytes, bool]]) -> bytes:
    """One base blob restoring exactly what ``restore(links)`` restores, without parsing."""
    latest: dict[bytes, bytes] = {}
    revision = 0
    for link_revision, _, blob, base in _ordered(links):
        if base:
            latest.clear()
        for state in _states(blob):
            latest[_task_id(state)] = state
        revision = link_revision
    return encode((latest[task_id] for task_id in sorted(latest)), revision)
