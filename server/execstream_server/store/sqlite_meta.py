"""The SQLite file's side data: the log's identity, the task index and the checkpoint chain.

The identity is created on open when missing, so a file from before it existed gets one
at its first open by this version. The task index (``task_chunks``, see ``sqlite_schema``
and ``sqlite_index``) also answers where a resent seq was committed: in the newest chunk
of its task whose ``first_seq`` is at or below it (a task's seqs grow with its revisions),
or in a report after ``indexed_through`` holding its task.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence

from execstream_server.domain.digests import UNKNOWN_DIGEST, SeqKey
from execstream_server.store.group_admission import digests_in, merged_spans
from execstream_server.store.sqlite_reads import frames_between, unindexed_spans

# A task's first_seq grows with its revisions, so the newest chunk at or below a seq is the
# one with the largest first_seq at or below it: one step down task_chunks_by_seq.
_SEQ_CHUNK_SQL = (
    "SELECT first_revision, revision FROM task_chunks WHERE task_id = ? "
    "AND first_seq BETWEEN 1 AND ? ORDER BY first_seq DESC LIMIT 1"
)
# (last revision, task_id, first_seq, first revision): one task's span of a commit or flush
ChunkRow = tuple[int, str, int, int]


def ensure_log_id(conn: sqlite3.Connection) -> str:
    """The file's log identity, chosen at random the first time (inside the caller's tx)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
    if row is not None:
        return str(row[0])
    log_id = str(uuid.uuid4())  # dashed: never read back as a number by the INTEGER column
    conn.execute("INSERT INTO meta(key, value) VALUES ('log_id', ?)", (log_id,))
    return log_id


# Bound parameters per statement: SQLite builds before 3.32 allow 999.
_MAX_PARAMETERS = 999


def insert_rows(conn: sqlite3.Connection, into: str, rows: Sequence[Sequence[object]]) -> None:
    """``INSERT INTO {into} VALUES (...), (...), ...``: many rows per statement.

    The writer thread gives up the GIL around every statement step and must win it back
    from the event loop each time (up to the interpreter's 5 ms switch interval when the
    loop is busy). One step per row made a commit of a few hundred rows wait on hundreds
    of such hand-overs; one per statement waits on a few.
    """
    if not rows:
        return
    width = len(rows[0])
    per_statement = _MAX_PARAMETERS // width
    placeholder = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        values = ", ".join([placeholder] * len(part))
        conn.execute(f"INSERT INTO {into} VALUES {values}", [v for row in part for v in row])


def insert_chunks(conn: sqlite3.Connection, rows: Sequence[ChunkRow]) -> None:
    insert_rows(conn, "task_chunks(revision, task_id, first_seq, first_revision)", rows)


def delete_chunks(conn: sqlite3.Connection, through: int) -> None:
    conn.execute("DELETE FROM task_chunks WHERE revision <= ?", (through,))


def committed_digests(conn: sqlite3.Connection, keys: Sequence[SeqKey]) -> dict[SeqKey, bytes]:
    """The content digest of each committed (task, seq), from the stored event (keys not
    found were compacted). The frames of all keys' spans are read and parsed once; the
    reports the index does not cover yet are read whenever they hold a key's task."""
    found: dict[SeqKey, bytes] = {}
    conn.execute("BEGIN")
    try:
        spans = unindexed_spans(conn, 0, {task_id for task_id, _ in keys})
        for task_id, seq in keys:
            row = conn.execute(_SEQ_CHUNK_SQL, (task_id, seq)).fetchone()
            if row is not None:
                spans.append((int(row[0]), int(row[1])))
        wanted = set(keys)
        for first, last in merged_spans(spans):
            found |= digests_in(frames_between(conn, first, last), wanted)
    finally:
        conn.execute("COMMIT")
    return {key: found.get(key, UNKNOWN_DIGEST) for key in keys}  # UNKNOWN: compacted


# -- the checkpoint chain --------------------------------------------------------------------
def checkpoint_links(conn: sqlite3.Connection) -> list[tuple[int, bytes, bool]]:
    """Every link as (link id, blob, is_base), in write order."""
    rows = conn.execute("SELECT link, blob, base FROM checkpoints ORDER BY link")
    return [(int(link), bytes(blob), bool(base)) for link, blob, base in rows]


def append_link(conn: sqlite3.Connection, blob: bytes, revision: int, *, base: bool) -> None:
    """Add a link (inside the caller's transaction); a base replaces the links before it."""
    link = conn.execute(
        "INSERT INTO checkpoints(revision, base, blob) VALUES (?, ?, ?)",
        (revision, int(base), blob),
    ).lastrowid
    if base:
        conn.execute("DELETE FROM checkpoints WHERE link < ?", (link,))
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('checkpoint_revision', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
        (revision,),
    )


def replace_links(conn: sqlite3.Connection, base: bytes, revision: int, through_link: int) -> None:
    """Put a merged base in place of the links up to ``through_link`` (later ones stay)."""
    conn.execute("DELETE FROM checkpoints WHERE link <= ?", (through_link,))
    conn.execute(
        "INSERT INTO checkpoints(link, revision, base, blob) VALUES (?, ?, 1, ?)",
        (through_link, revision, base),
    )
