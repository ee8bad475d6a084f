"""Watch frames: a report's stored events as one ready-to-send ``WatchExecutionResponse``.

A ``WatchExecutionResponse``'s wire form is just its ``events`` entries, so a report's
accepted events, each serialised once, become one frame by giving each its entry header;
the revision is appended to each event's bytes (protobuf keeps the last value seen of a
scalar field, so appending ``revision`` sets it without parsing or copying the event). The
frame is stored once and sent as is to every watcher and every replay; a filter or a cursor
inside a frame keeps some of its entries (``watch_frames``), found by ``entry_offsets``.
"""

from __future__ import annotations

from collections.abc import Sequence

_TAG_REVISION = b"\x20"  # ExecutionEvent.revision: field 4, varint
_TAG_ENTRY = 0x0A  # WatchExecutionResponse.events: field 1, length-delimited
_SMALL = [bytes((n,)) for n in range(128)]


class FrameError(ValueError):
    """Bytes that are not the protobuf message they were taken for."""


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (one-byte values from a table)."""
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise FrameError("truncated varint")
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift, pos = byte & 0x7F, 7, pos + 1
    while True:
        if pos >= len(data) or shift > 63:
            raise FrameError("truncated or overlong varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def stamped_frame(raws: Sequence[bytes], first_revision: int) -> bytes:
    """One report's frame: each serialised event with consecutive revisions appended.

    The revision comes last, so a store that assigns revisions elsewhere (the Redis commit
    script) builds the same bytes from the event's bytes by appending it.
    """
    parts: list[bytes] = []
    add = parts.append
    revision = first_revision
    for raw in raws:
        encoded = varint(revision)
        add(b"\x0a" + varint(len(raw) + 1 + len(encoded)))
        add(raw)
        add(_TAG_REVISION)
        add(encoded)
        revision += 1
    return b"".join(parts)


def frame(payloads: Sequence[bytes]) -> bytes:
    """A ``WatchExecutionResponse`` holding ``payloads`` (serialised events) in order."""
    parts = []
    for payload in payloads:
        parts.append(b"\x0a" + varint(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def entry_offsets(data: bytes) -> list[int]:
    """Where each ``events`` entry of a frame starts (raises FrameError on anything else)."""
    offsets = []
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] != _TAG_ENTRY:
            raise FrameError(f"unexpected tag {data[pos]:#x} at {pos} in a watch frame")
        offsets.append(pos)
        length, pos = read_varint(data, pos + 1)
        pos += length
    if pos != end:
        raise FrameError("a watch frame's last entry runs past its end")
    return offsets


def entry_payloads(data: bytes) -> list[bytes]:
    """Each entry's serialised event, in order (raises FrameError on anything else)."""
    payloads = []
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] != _TAG_ENTRY:
            raise FrameError(f"unexpected tag {data[pos]:#x} at {pos} in a watch frame")
        length, start = read_varint(data, pos + 1)
        pos = start + length
        payloads.append(data[start:pos])
    if pos != end:
        raise FrameError("a watch frame's last entry runs past its end")
    return payloads
