"""Watch frames built from the bytes a sidecar sent: stamped by appending, sliced for a cursor.

A report's events arrive as protobuf bytes. The server adds only a few fields to each
(``revision``, ``sidecar_id``, ``time`` when the sidecar left it out, ``attempt`` when 0), and
protobuf keeps the last value seen of a non-repeated scalar field (a message field such as
``time`` is merged, which for an absent one is the same as setting it), so appending those
fields to the event's bytes yields exactly the stamped event without parsing or copying it.
A whole report then becomes one ``WatchExecutionResponse`` frame (its ``events`` entries
concatenated) that is stored once and sent as is to every watcher and every replay; a
cursor inside a report's revision range takes the frame from the entry after it.

Only events whose body the server does not rewrite may be stamped this way: bodies that
carry a server-computed price (``status``, ``error``, ``finished``) are re-serialised, because
merging would keep fields of a cost the sidecar sent. Bytes with unknown fields must not be
stamped either (what is stored is the admitted message, not whatever else came along).
"""

from __future__ import annotations

from collections.abc import Sequence

_TAG_TIME = b"\x1a"  # ExecutionEvent.time: field 3, length-delimited (Timestamp)
_TAG_REVISION = b"\x20"  # ExecutionEvent.revision: field 4, varint
_TAG_SIDECAR = b"\x2a"  # ExecutionEvent.sidecar_id: field 5, length-delimited
ATTEMPT_ONE = b"\x30\x01"  # ExecutionEvent.attempt = 1: field 6, varint
_TAG_ENTRY = 0x0A  # WatchExecutionResponse.events / ProgressReport.sidecar_id: field 1
_TAG_REPORT_EVENT = 0x12  # ProgressReport.events: field 2, length-delimited
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


def sidecar_field(sidecar_id: str) -> bytes:
    """The ``sidecar_id`` field as appended to each event of one report."""
    raw = sidecar_id.encode()
    return _TAG_SIDECAR + varint(len(raw)) + raw


def time_field(seconds: int, nanos: int) -> bytes:
    """The ``time`` field (a Timestamp) for events the sidecar sent without one."""
    body = (b"\x08" + varint(seconds) if seconds else b"") + (
        b"\x10" + varint(nanos) if nanos else b""
    )
    return _TAG_TIME + varint(len(body)) + body


def stamp(raw: bytes, revision: int, suffix: bytes) -> bytes:
    """``raw`` event bytes with the report's stamps and then the revision appended."""
    return raw + suffix + _TAG_REVISION + varint(revision)


def stamped_frame(raws: Sequence[bytes], first_revision: int, suffix: bytes = b"") -> bytes:
    """One report's frame: each raw event stamped with ``suffix`` and consecutive revisions.

    The same bytes as ``frame([stamp(raw, r, suffix) ...])``, built in one pass. The
    revision comes last, so a store that assigns revisions elsewhere (the Redis commit
    script) builds the same bytes from ``raw + suffix`` by appending it.
    """
    parts: list[bytes] = []
    add = parts.append
    fixed = len(suffix) + 1  # the suffix and the revision tag
    revision = first_revision
    for raw in raws:
        encoded = varint(revision)
        add(b"\x0a" + varint(len(raw) + fixed + len(encoded)))
        add(raw)
        add(suffix)
        add(_TAG_REVISION)
        add(encoded)
        revision += 1
    return b"".join(parts)


def entry(payload: bytes) -> bytes:
    """One ``WatchExecutionResponse.events`` entry holding a serialised event."""
    return b"\x0a" + varint(len(payload)) + payload


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


def after_cursor(data: bytes, first_revision: int, cursor: int) -> bytes:
    """The part of a frame (revisions ``first_revision``.. in order) after ``cursor``.

    Revisions within one frame are consecutive, so the entries to drop are counted, not read.
    """
    skip = cursor - first_revision + 1
    if skip <= 0:
        return data
    offsets = entry_offsets(data)
    return data[offsets[skip] :] if skip < len(offsets) else b""


def select(data: bytes, keep: Sequence[int]) -> bytes:
    """The entries of a frame at the indexes ``keep`` (ascending): a filtered watcher's frame."""
    offsets = entry_offsets(data)
    offsets.append(len(data))
    return b"".join(data[offsets[i] : offsets[i + 1]] for i in keep)


def report_events(data: bytes) -> tuple[bytes, list[bytes]]:
    """(sidecar_id bytes, each event's bytes) of a serialised ProgressReport, in order.

    Fields other than those two are skipped by wire type, as a parser would.
    """
    sidecar = b""
    events: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = read_varint(data, pos)
        wire = tag & 7
        if wire == 2:
            length, pos = read_varint(data, pos)
            if pos + length > end:
                raise FrameError("a length-delimited field runs past the report's end")
            if tag == _TAG_REPORT_EVENT:
                events.append(data[pos : pos + length])
            elif tag == _TAG_ENTRY:
                sidecar = data[pos : pos + length]
            pos += length
        elif wire == 0:
            _, pos = read_varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise FrameError(f"unsupported wire type {wire} in a report")
    if pos != end:
        raise FrameError("a report's last field runs past its end")
    return sidecar, events
