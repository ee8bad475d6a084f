"""The SQLite task index written in batches: one ``task_chunks`` row per task per flush.

A commit touches hundreds of tasks under load; a row per task per commit would write as
many random pages of the two task-keyed indexes to the WAL every commit. Instead the
writer keeps each task's revision span since the last flush in memory (``PendingIndex``)
and writes them about once per ``INDEX_FLUSH_S`` (in the transaction of the commit that
finds the flush due, so no extra fsync) and at close. A flushed row spans from the task's
first revision after the previous flush to its last one, with its first non-zero seq; the
span may hold other tasks' revisions, which readers skip by the frames' keys.

The flush writes ``meta.indexed_through`` (the last revision the rows cover) in the same
transaction as its rows, so every state of the file holds a complete index through it.
Reports after it are found by their stored keys (``sqlite_reads.unindexed_spans``) in the
reader's own read transaction: no reader depends on the writer's memory. At open, the
reports after it (left by a crash before a flush) are indexed from their frames at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence

from execstream_server.domain.records import ReportFrame
from execstream_server.domain.report_keys import decode
from execstream_server.store.sqlite_meta import ChunkRow, insert_chunks
from execstream_server.store.sqlite_reads import indexed_through

INDEX_FLUSH_S = 1.0  # at most about one task index flush per this many seconds of commits
_UNINDEXED_SQL = (
    "SELECT first_revision, sidecar_id, keys, frame FROM reports WHERE revision > ? "
    "ORDER BY revision"
)
Spans = dict[str, list[int]]  # task_id -> [first revision, last revision, first seq]


def _merge(spans: Spans, chunks: Iterable[ChunkRow]) -> None:
    """Extend each task's span with later chunks (in revision order)."""
    for last, task_id, first_seq, first in chunks:
        span = spans.get(task_id)
        if span is None:
            spans[task_id] = [first, last, first_seq]
        else:
            span[1] = last
            span[2] = span[2] or first_seq  # the first seq a sidecar gave (server events: 0)


def _rows(spans: Spans) -> list[ChunkRow]:
    return [(last, task_id, seq, first) for task_id, (first, last, seq) in spans.items()]


def write(conn: sqlite3.Connection, rows: Sequence[ChunkRow], through: int) -> None:
    """The rows and the revision they index through (inside the caller's transaction)."""
    insert_chunks(conn, rows)
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('indexed_through', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (through,),
    )


class PendingIndex:
    """Each task's span of the commits since the last flush. The writer thread alone uses
    it; a commit is added only once its transaction committed."""

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._spans: Spans = {}
        self._through = 0  # the last revision of the last commit added
        self._due_at = time.monotonic() + interval_s

    def due(self) -> bool:
        return time.monotonic() >= self._due_at

    def rows(self, chunks: Sequence[ChunkRow] = ()) -> list[ChunkRow]:
        """The pending spans with a commit's ``chunks`` merged in, as rows to flush."""
        merged = {task_id: list(span) for task_id, span in self._spans.items()}
        _merge(merged, chunks)
        return _rows(merged)

    @property
    def through(self) -> int:
        return self._through

    @property
    def empty(self) -> bool:
        return not self._spans

    def committed(self, chunks: Sequence[ChunkRow], through: int, *, flushed: bool) -> None:
        """A commit through ``through`` is in the file; ``flushed``: with the index."""
        self._through = through
        if flushed:
            self.flushed()
        else:
            _merge(self._spans, chunks)

    def flushed(self) -> None:
        self._spans.clear()
        self._due_at = time.monotonic() + self._interval

    def compacted(self, through: int) -> None:
        """Forget spans whose revisions were all compacted (their reports are gone)."""
        for task_id in [t for t, span in self._spans.items() if span[1] <= through]:
            del self._spans[task_id]


def index_unindexed(conn: sqlite3.Connection) -> int:
    """Index the reports after ``indexed_through`` (inside the caller's transaction).

    They are what a crash before a flush left; their frames are parsed for the seqs (at
    most about one flush interval of commits). Returns the revision indexed through.
    """
    through = indexed_through(conn)
    spans: Spans = {}
    for first, sidecar_id, keys, data in conn.execute(_UNINDEXED_SQL, (through,)):
        frame = ReportFrame(first, decode(sidecar_id, keys), data)
        _merge(spans, ((e.revision, e.task_id, e.seq, e.revision) for e in frame.events()))
        through = frame.last_revision
    if spans:
        write(conn, _rows(spans), through)
    return through
