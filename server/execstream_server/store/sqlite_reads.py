"""Reading stored frames from the SQLite file: after a cursor, or for a few tasks.

Each read runs in one read transaction, so the compaction bound, the task index and the
frames it returns are one consistent state of the file. A task-filtered read asks the
task index (``task_chunks``: one row per task per commit, with its revision span, written
in batches; see ``sqlite_index``) where the tasks' events are through ``indexed_through``,
finds those after it by the keys of the few reports since (``unindexed_spans``), and reads
only the frames overlapping those spans.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from execstream_server.domain.errors import RevisionCompactedError
from execstream_server.domain.records import FramePage, ReportFrame
from execstream_server.domain.report_keys import decode, task_ids_of
from execstream_server.store.group_admission import merged_spans

_FRAMES_SQL = (
    "SELECT first_revision, sidecar_id, keys, frame, revision, "
    "CAST(committed_at * 1000 AS INTEGER) FROM reports "
    "WHERE revision > ? ORDER BY revision"
)
_SPANS_SQL = (
    "SELECT first_revision, revision FROM task_chunks WHERE task_id = ? AND revision > ? "
    "ORDER BY revision LIMIT ?"
)
_UNINDEXED_SQL = "SELECT first_revision, revision, keys FROM reports WHERE revision > ?"
_SPANS_PER_TASK = 256  # per read: a busy task's page ends where its spans do


def _frame(row: tuple[int, str, bytes, bytes, int, int]) -> ReportFrame:
    return ReportFrame(row[0], decode(row[1], row[2]), row[3], row[5])


def _compacted(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='compacted_through'").fetchone()
    return int(row[0]) if row else 0


def indexed_through(conn: sqlite3.Connection) -> int:
    """The last revision the task index covers (reports after it are not in it yet)."""
    row = conn.execute("SELECT value FROM meta WHERE key='indexed_through'").fetchone()
    return int(row[0]) if row else 0


def unindexed_spans(
    conn: sqlite3.Connection, after: int, task_ids: Iterable[str]
) -> list[tuple[int, int]]:
    """The spans after ``after`` of the reports holding any of the tasks that the task
    index does not cover yet (at most about one flush interval of commits)."""
    wanted = set(task_ids)
    return [
        (max(first, after + 1), last)
        for first, last, keys in conn.execute(_UNINDEXED_SQL, (max(after, indexed_through(conn)),))
        if not wanted.isdisjoint(task_ids_of(keys))
    ]


def read_frames(
    conn: sqlite3.Connection, after: int, max_bytes: int, task_ids: Iterable[str] | None
) -> FramePage:
    """See ``LogStore.read_frames``; RevisionCompactedError when ``after`` is gone."""
    conn.execute("BEGIN")
    try:
        compacted = _compacted(conn)
        if after < compacted:
            raise RevisionCompactedError(after, compacted + 1)
        if task_ids is None:
            return _read_all(conn, after, max_bytes)
        return _read_tasks(conn, after, max_bytes, task_ids)
    finally:
        conn.execute("COMMIT")


def _read_all(conn: sqlite3.Connection, after: int, max_bytes: int) -> FramePage:
    frames: list[ReportFrame] = []
    size = 0
    for row in conn.execute(_FRAMES_SQL, (after,)):  # fetched one by one: stop at the bound
        size += len(row[3])
        if frames and size > max_bytes:
            break
        frames.append(_frame(row))
    return FramePage(frames, frames[-1].last_revision if frames else after)


def _spans(
    conn: sqlite3.Connection, after: int, task_ids: Iterable[str]
) -> tuple[list[tuple[int, int]], int | None]:
    """The tasks' revision spans after ``after``, merged, and the horizon they are complete to.

    A task with more spans than one read takes limits the horizon to its last span read
    (``None``: every span to the head was read, the unindexed reports' ones included).
    """
    task_ids = list(task_ids)
    spans = unindexed_spans(conn, after, task_ids)
    horizon: int | None = None
    for task_id in task_ids:
        rows = conn.execute(_SPANS_SQL, (task_id, after, _SPANS_PER_TASK)).fetchall()
        spans += [(max(first, after + 1), last) for first, last in rows]
        if len(rows) == _SPANS_PER_TASK:
            horizon = rows[-1][1] if horizon is None else min(horizon, rows[-1][1])
    if horizon is not None:
        spans = [(first, last) for first, last in spans if first <= horizon]
    return merged_spans(spans), horizon


def _read_tasks(
    conn: sqlite3.Connection, after: int, max_bytes: int, task_ids: Iterable[str]
) -> FramePage:
    spans, horizon = _spans(conn, after, task_ids)
    frames: list[ReportFrame] = []
    size = 0
    read_to = after  # the last revision of the last frame read
    for first, last in spans:
        if last <= read_to:
            continue
        for row in conn.execute(_FRAMES_SQL, (max(first - 1, read_to),)):
            found = _frame(row)
            if found.first_revision > last:
                break
            size += len(found.data)
            if frames and size > max_bytes:
                return FramePage(frames, read_to if horizon is None else min(read_to, horizon))
            frames.append(found)
            read_to = found.last_revision
    if horizon is None:
        head = conn.execute("SELECT MAX(revision) FROM reports").fetchone()[0] or after
        return FramePage(frames, max(head, read_to, after))
    # A frame read may reach past the horizon: the caller cuts it there.
    return FramePage(frames, horizon)


def frames_between(conn: sqlite3.Connection, first: int, last: int) -> list[ReportFrame]:
    """The frames holding any revision in ``[first, last]``."""
    frames = []
    for row in conn.execute(_FRAMES_SQL, (first - 1,)):
        if row[0] > last:
            break
        frames.append(_frame(row))
    return frames
