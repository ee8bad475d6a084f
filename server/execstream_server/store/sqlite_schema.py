"""The SQLite file's tables, and the migration of files written with one row per event.

Tables (``SCHEMA``):

- ``reports``: one row per stored report frame, keyed by its last revision (so the first
  row after a cursor is the frame holding the next revision), with its first revision,
  sidecar, commit time, keys (``report_keys``) and the ready-to-send frame.
- ``task_chunks``: one row per task per commit, written in batches (``sqlite_index``: about
  once a second, at close and at open): the revisions its events span in that commit,
  ``first_revision`` to ``revision``, and its first non-zero seq. The ``(task_id,
  revision)`` index makes it the task index of filtered replays; the ``(task_id,
  first_seq)`` index is where a resent seq finds, in one step, the committed event it is
  compared with. It covers the reports through ``meta.indexed_through``; readers find the
  tasks of later reports by their keys.
- ``checkpoints``: the checkpoint chain (``domain/checkpoint.py``), one blob per link.
- ``meta``: ``log_id``, ``checkpoint_revision``, ``compacted_through``,
  ``indexed_through``, ``schema_version``.

A file written with one row per event (an ``events`` table, a ``tasks`` table of
checkpointed states, perhaps a ``digests`` table) is migrated when opened: events move
into frames in chunks, each chunk one transaction, so a crash mid-way resumes where it
stopped; consecutive events of one commit and one sidecar become one frame, and each
task's span of each commit a ``task_chunks`` row. The checkpointed states become one base
link; stored digests are dropped (resends are compared with the stored events, so events
from before digests existed can now be compared too). Nothing is lost or renumbered:
revisions, payloads, compaction and checkpoint bounds stay as they were. A file of
schema 2 (a ``task_chunks`` row per task per commit, no ``indexed_through``) has a
complete index: it is marked indexed through its last revision. Schema 3 files are
refused by older versions, which would take their index for complete.
"""

from __future__ import annotations

import logging
import sqlite3
from itertools import groupby
from typing import Any

from execstream_server.domain import checkpoint
from execstream_server.domain.frames import frame
from execstream_server.domain.report_keys import ReportKeys, encode

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    revision       INTEGER PRIMARY KEY,
    first_revision INTEGER NOT NULL,
    sidecar_id     TEXT    NOT NULL,
    committed_at   REAL    NOT NULL,
    keys           BLOB    NOT NULL,
    frame          BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS task_chunks (
    revision       INTEGER PRIMARY KEY,
    task_id        TEXT    NOT NULL,
    first_seq      INTEGER NOT NULL,
    first_revision INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS task_chunks_by_task ON task_chunks(task_id, revision);
CREATE INDEX IF NOT EXISTS task_chunks_by_seq ON task_chunks(task_id, first_seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    link     INTEGER PRIMARY KEY,
    revision INTEGER NOT NULL,
    base     INTEGER NOT NULL,
    blob     BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""
_MIGRATE_CHUNK = 50_000  # events per migration transaction (more to end a commit)
_MIGRATED_FRAME_EVENTS = 256


class SchemaError(Exception):
    """A file this version cannot use (written by a newer one)."""


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def prepare(conn: sqlite3.Connection, path: str) -> None:
    """Create the tables, or bring a file of an earlier layout to this one."""
    existing = _tables(conn)
    if "meta" in existing:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise SchemaError(
                f"sqlite store {path}: written by a newer execstream (schema {row[0]}; this "
                f"version reads {SCHEMA_VERSION}); run that version"
            )
    conn.executescript(SCHEMA)
    if "events" in existing:
        _migrate_events(conn, path)
    if "tasks" in existing:
        _migrate_tasks(conn)
    if "digests" in existing:
        conn.execute("DROP TABLE digests")
    # Every layout before the batched index (and the migration above) indexed all commits.
    conn.execute(
        "INSERT INTO meta(key, value) SELECT 'indexed_through', COALESCE(MAX(revision), 0) "
        "FROM reports WHERE true ON CONFLICT(key) DO NOTHING"
    )
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (SCHEMA_VERSION,),
    )


def _migrate_events(conn: sqlite3.Connection, path: str) -> None:
    total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    if total:
        log.info("sqlite store %s: moving %d events into report frames (once)", path, total)
    while _migrate_chunk(conn):
        pass
    conn.execute("DROP TABLE events")


def _chunk_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """The next events, ending at the end of a commit (rows sharing ``committed_at``)."""
    select = (
        "SELECT revision, task_id, seq, sidecar_id, kind, committed_at, payload FROM events "
        "WHERE revision > ? ORDER BY revision LIMIT ?"
    )
    rows = conn.execute(select, (0, _MIGRATE_CHUNK)).fetchall()
    while rows:
        more = conn.execute(select, (rows[-1][0], 1000)).fetchall()
        tail = [row for row in more if row[5] == rows[-1][5]]
        rows += tail
        if len(tail) < len(more) or not more:
            break
    return rows


def _migrate_chunk(conn: sqlite3.Connection) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = _chunk_rows(conn)
        if not rows:
            conn.execute("COMMIT")
            return False
        _insert_frames(conn, rows)
        _index_commits(conn, rows)
        conn.execute("DELETE FROM events WHERE revision <= ?", (rows[-1][0],))
        conn.execute("COMMIT")
        return True
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _insert_frames(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Consecutive events of one commit and one sidecar as frames (revisions are gap-free)."""
    out = []
    for (_, sidecar_id), run in groupby(rows, key=lambda row: (row[5], row[3])):
        events = list(run)
        for start in range(0, len(events), _MIGRATED_FRAME_EVENTS):
            part = events[start : start + _MIGRATED_FRAME_EVENTS]
            keys = ReportKeys.of(sidecar_id, [(row[1], row[4]) for row in part])
            data = frame([row[6] for row in part])
            out.append((part[-1][0], part[0][0], sidecar_id, part[0][5], encode(keys), data))
    conn.executemany("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?)", out)


def _index_commits(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Each task's revision span per commit as a task_chunks row."""
    chunks = []
    for _, commit in groupby(rows, key=lambda row: row[5]):
        spans: dict[str, list[int]] = {}  # task_id -> [first revision, last revision, first seq]
        for revision, task_id, seq, *_ in commit:
            span = spans.setdefault(task_id, [revision, revision, seq])
            span[1] = revision
            span[2] = span[2] or seq  # the first seq a sidecar gave (server events have 0)
        chunks += [(last, task, seq, first) for task, (first, last, seq) in spans.items()]
    conn.executemany(
        "INSERT INTO task_chunks(revision, task_id, first_seq, first_revision) VALUES (?, ?, ?, ?)",
        chunks,
    )


def _migrate_tasks(conn: sqlite3.Connection) -> None:
    """The checkpointed states as one base link of the checkpoint chain."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'checkpoint_revision'").fetchone()
        revision = int(row[0]) if row else 0
        states = [state for (state,) in conn.execute("SELECT state FROM tasks ORDER BY task_id")]
        if states:
            conn.execute(
                "INSERT INTO checkpoints(revision, base, blob) VALUES (?, 1, ?)",
                (revision, checkpoint.encode(states, revision)),
            )
        conn.execute("DROP TABLE tasks")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
