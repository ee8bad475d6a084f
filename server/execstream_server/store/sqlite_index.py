"""The SQLite task index written in batches: the ``task_chunks`` rows of many commits at once.

A commit touches hundreds of tasks under load; writing its rows (one per task) with the
commit dirtied as many random pages of the two task-keyed indexes, every commit. Instead
the writer keeps the rows of the commits since the last flush in memory (``PendingIndex``)
and writes them about once per ``INDEX_FLUSH_S`` (in the transaction of the commit that
finds the flush due, so no extra fsync) and at close. A task's rows of one flush sit side
by side in both indexes, so a flush dirties about one page per task per index, however
many commits it covers. Each row still spans one task's events of one commit, so a
filtered read or a resend lookup reads only the frames holding the task.

The flush writes ``meta.indexed_through`` (the last revision the rows cover) in the same
transaction as its rows, so every state of the file holds a complete index through it.
Reports after it are found by their stored keys (``sqlite_reads.unindexed_spans``) in the
reader's own read transaction: no reader depends on the writer's memory. At open, the
reports after it (left by a crash before a flush) are indexed from their frames at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from execstream_server.domain.records import ReportFrame
from execstream_server.domain.report_keys import decode
from execstream_server.store.sqlite_meta import ChunkRow, insert_chunks
from execstream_server.store.sqlite_reads import indexed_through

INDEX_FLUSH_S = 1.0  # at most about one task index flush per this many seconds of commits
_UNINDEXED_SQL = (
    "SELECT first_revision, sidecar_id, keys, frame FROM reports WHERE revision > ? "
    "ORDER BY revision"
)


def _task_rows(frame: ReportFrame) -> list[ChunkRow]:
    """One row per task of a stored frame: its last revision, first seq and first revision."""
    rows: dict[str, list[int]] = {}
    for event in frame.events():
        row = rows.get(event.task_id)
        if row is None:
            rows[event.task_id] = [event.revision, event.seq, event.revision]
        else:
            row[0] = event.revision
            row[1] = row[1] or event.seq  # the first seq a sidecar gave (server events: 0)
    return [(last, task_id, seq, first) for task_id, (last, seq, first) in rows.items()]


def write(conn: sqlite3.Connection, rows: Sequence[ChunkRow], through: int) -> None:
    """The rows and the revision they index through (inside the caller's transaction)."""
    insert_chunks(conn, rows)
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('indexed_through', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (through,),
    )


class PendingIndex:
    """The task index rows of the commits since the last flush. The writer thread alone
    uses it; a commit's rows are added only once its transaction committed."""

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._rows: list[ChunkRow] = []
        self._through = 0  # the last revision of the last commit added
        self._due_at = time.monotonic() + interval_s

    def due(self) -> bool:
        return time.monotonic() >= self._due_at

    def rows(self, chunks: Sequence[ChunkRow] = ()) -> list[ChunkRow]:
        """The pending rows and a commit's ``chunks``, to flush."""
        return [*self._rows, *chunks]

    @property
    def through(self) -> int:
        return self._through

    @property
    def empty(self) -> bool:
        return not self._rows

    def committed(self, chunks: Sequence[ChunkRow], through: int, *, flushed: bool) -> None:
        """A commit through ``through`` is in the file; ``flushed``: with the index."""
        self._through = through
        if flushed:
            self.flushed()
        else:
            self._rows += chunks

    def flushed(self) -> None:
        self._rows.clear()
        self._due_at = time.monotonic() + self._interval

    def compacted(self, through: int) -> None:
        """Forget rows whose revisions were compacted (their reports are gone)."""
        self._rows = [row for row in self._rows if row[0] > through]


def index_unindexed(conn: sqlite3.Connection) -> int:
    """Index the reports after ``indexed_through`` (inside the caller's transaction).

    They are what a crash before a flush left; their frames are parsed for the seqs (at
    most about one flush interval of commits). Returns the revision indexed through.
    """
    through = indexed_through(conn)
    rows: list[ChunkRow] = []
    for first, sidecar_id, keys, data in conn.execute(_UNINDEXED_SQL, (through,)):
        frame = ReportFrame(first, decode(sidecar_id, keys), data)
        rows += _task_rows(frame)
        through = frame.last_revision
    if rows:
        write(conn, rows, through)
    return through
