"""The SQLite file's side data: the log's identity and the content digests of its events.

Both are created on open when missing, so files written before they existed keep working:
such a file gets its identity at its first open by this version, and its earlier events
have no digests (their resends are acknowledged as duplicates without comparison).

Digests are stored one row per task per commit (``revision`` is the chunk's last event
revision, so compaction drops chunks with their events), 8 bytes per seq from
``first_seq`` on; a resent seq finds its chunk through the (task_id, first_seq) index.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence

from execstream_server.domain.digests import SeqKey
from execstream_server.store.group_admission import digest_at

SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    revision  INTEGER PRIMARY KEY,
    task_id   TEXT    NOT NULL,
    first_seq INTEGER NOT NULL,
    digests   BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS digests_by_task ON digests(task_id, first_seq);
"""
_DIGEST_SQL = (
    "SELECT first_seq, digests FROM digests WHERE task_id = ? AND first_seq <= ? "
    "ORDER BY first_seq DESC LIMIT 1"
)
DigestRow = tuple[int, str, int, bytes]  # (last revision, task_id, first_seq, digests)


def ensure_log_id(conn: sqlite3.Connection) -> str:
    """The file's log identity, chosen at random the first time (inside the caller's tx)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
    if row is not None:
        return str(row[0])
    log_id = str(uuid.uuid4())  # dashed: never read back as a number by the INTEGER column
    conn.execute("INSERT INTO meta(key, value) VALUES ('log_id', ?)", (log_id,))
    return log_id


def insert_digests(conn: sqlite3.Connection, rows: Iterable[DigestRow]) -> None:
    conn.executemany("INSERT INTO digests VALUES (?, ?, ?, ?)", rows)


def delete_digests(conn: sqlite3.Connection, through: int) -> None:
    conn.execute("DELETE FROM digests WHERE revision <= ?", (through,))


def committed_digests(conn: sqlite3.Connection, keys: Sequence[SeqKey]) -> dict[SeqKey, bytes]:
    found: dict[SeqKey, bytes] = {}
    for task_id, seq in keys:
        row = conn.execute(_DIGEST_SQL, (task_id, seq)).fetchone()
        if row is not None:
            found[(task_id, seq)] = digest_at(row[0], row[1], seq)
    return found
