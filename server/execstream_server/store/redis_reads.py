"""Reading stored frames from the shared Redis log: after a cursor, or for a few tasks.

Stream entries are keyed by their frame's last revision, so ``XRANGE <cursor+1>-0 +``
starts at the frame holding the next revision. A task-filtered read asks the tasks'
indexes (one zset per task: a member ``<first revision>:<first seq>`` per commit, scored
by its last revision) where their events are and reads only the frames overlapping those
spans. Every read of frames checks the compaction bound in the same MULTI, so a trim
between two reads can never hide events: the read fails with RevisionCompactedError
instead. A resent seq finds its committed event the same way (``committed_digests``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from execstream_server.domain.digests import UNKNOWN_DIGEST, SeqKey
from execstream_server.domain.errors import RevisionCompactedError
from execstream_server.domain.records import FramePage, ReportFrame
from execstream_server.store.group_admission import digests_in, merged_spans
from execstream_server.store.redis_scripts import (
    RedisKeys,
    entry_revision,
    frame_from_entry,
    stream_id,
    unavailable_on_redis_error,
)

_FIRST_COUNT = 8  # a byte-bounded read asks for more once it knows frame sizes
_MAX_COUNT = 1024
_SPANS_PER_TASK = 256  # per read: a busy task's page ends where its spans do
_SPANS_PER_WALK = 1024  # index entries per round trip while finding resent seqs
_SPANS_PER_TRIP = 16


def _member(member: Any) -> tuple[int, int]:
    """(first revision, first seq) of a task index member (``<first revision>:<first seq>``)."""
    first, _, first_seq = bytes(member).partition(b":")
    return int(first), int(first_seq)


def _first(member: Any) -> int:
    return _member(member)[0]


def _check(after: int, compacted_raw: Any) -> int:
    compacted = int(compacted_raw or 0)
    if after < compacted:
        raise RevisionCompactedError(after, compacted + 1)
    return compacted


async def read_frames(
    client: Redis, keys: RedisKeys, after: int, max_bytes: int, task_ids: Iterable[str] | None
) -> tuple[FramePage, int]:
    """See ``LogStore.read_frames``; also returns the compaction bound it saw."""
    with unavailable_on_redis_error("read"):
        if task_ids is None:
            return await _read_all(client, keys, after, max_bytes)
        return await _read_tasks(client, keys, after, max_bytes, list(task_ids))


async def _read_all(
    client: Redis, keys: RedisKeys, after: int, max_bytes: int
) -> tuple[FramePage, int]:
    frames: list[ReportFrame] = []
    size, largest, count, cursor, compacted = 0, 1, _FIRST_COUNT, after, 0
    while True:
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(keys.compacted_through)
            pipe.xrange(keys.log, min=stream_id(cursor + 1), max="+", count=count)
            compacted_raw, entries = await pipe.execute()
        compacted = _check(after, compacted_raw)
        page = [frame_from_entry(entry_id, fields) for entry_id, fields in entries]
        frames += page
        if len(page) < count or not page:
            break
        size += sum(len(f.data) for f in page)
        largest = max(largest, *(len(f.data) for f in page))
        if size >= max_bytes:
            break
        # Ask for no more than the bytes left allow at the largest size seen so far.
        count = min(_MAX_COUNT, max(1, (max_bytes - size) // largest))
        cursor = page[-1].last_revision
    return FramePage(frames, frames[-1].last_revision if frames else after), compacted


async def _spans(
    client: Redis, keys: RedisKeys, after: int, task_ids: list[str]
) -> tuple[list[tuple[int, int]], int, int]:
    """The tasks' revision spans after ``after`` (merged), the horizon they are complete
    to, and the compaction bound; read in one MULTI."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(keys.compacted_through)
        pipe.get(keys.revision)
        for task_id in task_ids:
            pipe.zrangebyscore(
                keys.task_index(task_id),
                f"({after}",
                "+inf",
                start=0,
                num=_SPANS_PER_TASK,
                withscores=True,
            )
        compacted_raw, head_raw, *found = await pipe.execute()
    compacted = _check(after, compacted_raw)
    horizon = int(head_raw or 0)
    spans: list[tuple[int, int]] = []
    for rows in found:
        spans += [(max(_first(member), after + 1), int(last)) for member, last in rows]
        if len(rows) == _SPANS_PER_TASK:
            horizon = min(horizon, int(rows[-1][1]))
    merged = merged_spans(span for span in spans if span[0] <= horizon)
    return merged, max(horizon, after), compacted


async def _read_tasks(
    client: Redis, keys: RedisKeys, after: int, max_bytes: int, task_ids: list[str]
) -> tuple[FramePage, int]:
    spans, horizon, compacted = await _spans(client, keys, after, task_ids)
    frames: list[ReportFrame] = []
    size, read_to = 0, after
    for start in range(0, len(spans), _SPANS_PER_TRIP):
        trip = spans[start : start + _SPANS_PER_TRIP]
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(keys.compacted_through)
            for first, last in trip:
                # The frames ending inside the span, and the one holding its last revision.
                pipe.xrange(keys.log, min=stream_id(first), max=stream_id(last))
                pipe.xrange(keys.log, min=stream_id(last), max="+", count=1)
            compacted_raw, *replies = await pipe.execute()
        compacted = _check(after, compacted_raw)
        for entries in replies:
            for entry_id, fields in entries:
                if entry_revision(entry_id) <= read_to:
                    continue
                frame = frame_from_entry(entry_id, fields)
                size += len(frame.data)
                if frames and size > max_bytes:
                    return FramePage(frames, min(read_to, horizon)), compacted
                frames.append(frame)
                read_to = frame.last_revision
    # A frame read may reach past the horizon: the caller cuts it there.
    return FramePage(frames, horizon), compacted


async def _frames_between(
    client: Redis, keys: RedisKeys, first: int, last: int
) -> list[ReportFrame]:
    """The frames holding any revision in ``[first, last]``."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.xrange(keys.log, min=stream_id(first), max=stream_id(last))
        pipe.xrange(keys.log, min=stream_id(last), max="+", count=1)
        inside, holding_last = await pipe.execute()
    entries = {entry_id: fields for entry_id, fields in [*inside, *holding_last]}
    return [
        frame_from_entry(entry_id, fields)
        for entry_id, fields in sorted(entries.items(), key=lambda e: entry_revision(e[0]))
    ]


async def _spans_of_seqs(
    client: Redis, keys: RedisKeys, task_id: str, seqs: list[int]
) -> list[tuple[int, int]]:
    """The revision spans of the commits that took ``seqs`` of ``task_id``.

    The task's index is walked once, newest first (a resend is usually of the last few
    seqs), for all its seqs together, and only as far as the oldest of them: a resend of
    thousands of old seqs costs one walk, not one per seq.
    """
    index = keys.task_index(task_id)
    pending = sorted(set(seqs), reverse=True)  # pending[at:] are not found yet
    at = 0
    spans: list[tuple[int, int]] = []
    start = 0
    while at < len(pending):
        rows: list[Any] = await client.zrevrangebyscore(
            index, "+inf", "-inf", start=start, num=_SPANS_PER_WALK, withscores=True
        )
        for member, last in rows:
            first, first_seq = _member(member)
            if first_seq <= 0 or first_seq > pending[at]:
                continue  # a server-written span, or newer than every seq still looked for
            spans.append((first, int(last)))
            while at < len(pending) and pending[at] >= first_seq:
                at += 1
            if at == len(pending):
                break
        if len(rows) < _SPANS_PER_WALK:
            break
        start += len(rows)
    return spans


async def committed_digests(
    client: Redis, keys: RedisKeys, seq_keys: list[SeqKey]
) -> dict[SeqKey, bytes]:
    """The content digest of each committed (task, seq), from the stored event (keys not
    found were compacted). The frames of all keys' spans are read and parsed once."""
    found: dict[SeqKey, bytes] = {}
    with unavailable_on_redis_error("read committed events"):
        by_task: dict[str, list[int]] = {}
        for task_id, seq in seq_keys:
            by_task.setdefault(task_id, []).append(seq)
        spans = []
        for task_id, seqs in by_task.items():
            spans += await _spans_of_seqs(client, keys, task_id, seqs)
        wanted = set(seq_keys)
        for first, last in merged_spans(spans):
            found |= digests_in(await _frames_between(client, keys, first, last), wanted)
    return {key: found.get(key, UNKNOWN_DIGEST) for key in seq_keys}  # UNKNOWN: compacted
