"""What only the SQLite store has: files written by older versions keep working.

The common contract is in test_conformance.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from execstream_server.domain.errors import SeqConflictError
from execstream_server.store.sqlite import SqliteStore

from ..support.flat_pricer import FlatPricer
from ..support.helpers import event


def _open(path: Path) -> SqliteStore:
    return SqliteStore(str(path), pricer=FlatPricer())


async def test_a_file_from_before_digests_keeps_working_and_compares_new_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    store = _open(path)
    await store.open()
    await store.append("sc", [event("a", 1, text="one"), event("a", 2, text="two")])
    await store.close()
    with sqlite3.connect(path) as conn:  # what an older version left: no digests at all
        conn.execute("DROP TABLE digests")
    store = _open(path)
    await store.open()
    try:
        # Committed before digests existed: cannot be compared, acknowledged as a duplicate.
        old = await store.append("sc", [event("a", 2, text="changed"), event("a", 3, text="x")])
        assert (old.accepted, old.duplicates) == (1, 1)
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("a", 3, text="changed")])
    finally:
        await store.close()
