"""The SQLite task index written in batches (``store/sqlite_index.py``).

Events committed after the last flush are found by filtered replays and resend checks,
in the running store, after a crash before the flush, and after compaction; a file whose
index was written per commit opens as fully indexed; and a flush writes the rows of many
commits at once while reads stay as narrow as with rows written per commit.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream_server.config import Retention
from execstream_server.domain.errors import RevisionCompactedError, SeqConflictError
from execstream_server.domain.fold import fold
from execstream_server.store import sqlite_meta, sqlite_reads
from execstream_server.store.sqlite import SqliteStore
from execstream_server.store.sqlite_index import INDEX_FLUSH_S

from ..support.flat_pricer import FlatPricer
from ..support.helpers import blobs, event

_ROOT = Path(__file__).resolve().parents[2]
NEVER = math.inf  # no flush but at open and close


def _open(path: Path, flush_s: float = NEVER) -> SqliteStore:
    return SqliteStore(str(path), pricer=FlatPricer(), index_flush_s=flush_s)


def _index_state(path: Path) -> tuple[int, int]:
    """(task_chunks rows, meta.indexed_through) as the file holds them."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT COUNT(*) FROM task_chunks").fetchone()[0]
        row = conn.execute("SELECT value FROM meta WHERE key = 'indexed_through'").fetchone()
    finally:
        conn.close()
    return int(rows), int(row[0]) if row else -1


def _chunk_revisions(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r for (r,) in conn.execute("SELECT revision FROM task_chunks ORDER BY revision")]
    finally:
        conn.close()


async def _replay(
    store: SqliteStore, task_id: str, after: int = 0, max_bytes: int = 1 << 20
) -> list[tuple[int, int]]:
    """(revision, seq) of the task's events after ``after``, paged as a watcher reads them."""
    found: list[tuple[int, int]] = []
    cursor = after
    while cursor < store.revision:
        page = await store.read_frames(cursor, max_bytes=max_bytes, task_ids=frozenset({task_id}))
        for frame in page.frames:
            found += [
                (e.revision, e.seq)
                for e in frame.events()
                if e.task_id == task_id and cursor < e.revision <= page.through
            ]
        assert page.through > cursor, "a read must make progress"
        cursor = page.through
    return found


def _lines(task_id: str, seqs: range) -> list[events_pb.ExecutionEvent]:
    return [event(task_id, seq, text=f"{task_id}{seq}") for seq in seqs]


def _pair(first: str, second: str, seq: int) -> list[events_pb.ExecutionEvent]:
    """Seq ``seq`` of two tasks in one report."""
    return _lines(first, range(seq, seq + 1)) + _lines(second, range(seq, seq + 1))


async def test_a_filtered_replay_finds_events_committed_after_the_last_flush(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    store = _open(path)
    await store.open()
    for seq in range(1, 6):  # revisions 1-15, flushed at close
        await store.append("sc", _pair("a", "b", seq))
        await store.append("sc", _lines("c", range(seq, seq + 1)))
    await store.close()
    assert _index_state(path) == (15, 15)  # a row per task per commit, flushed at close
    store = _open(path)
    await store.open()
    try:
        for seq in range(6, 11):  # revisions 16-30, in no flush yet
            await store.append("sc", _pair("a", "b", seq))
            await store.append("sc", _lines("c", range(seq, seq + 1)))
        assert _index_state(path) == (15, 15)
        every_b = await _replay(store, "b")
        tail_b = await _replay(store, "b", after=20)
        small_pages = await _replay(store, "c", max_bytes=1)
        nobody = await store.read_frames(0, max_bytes=1 << 20, task_ids=frozenset({"nobody"}))
    finally:
        await store.close()
    b_revisions = [3 * seq - 1 for seq in range(1, 11)]
    assert every_b == [(r, seq) for seq, r in enumerate(b_revisions, 1)]
    assert tail_b == [(r, seq) for seq, r in enumerate(b_revisions, 1) if r > 20]
    assert small_pages == [(3 * seq, seq) for seq in range(1, 11)]
    assert (nobody.frames, nobody.through) == ([], 30)
    assert _index_state(path) == (30, 30)
    store = _open(path)
    await store.open()
    try:
        assert await _replay(store, "b") == every_b  # now all through the index
    finally:
        await store.close()


async def test_a_resend_after_the_last_flush_is_a_duplicate_or_a_conflict(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    store = _open(path)
    await store.open()
    await store.append("sc", [event("a", 1, "started"), *_lines("a", range(2, 4))])
    await store.close()
    store = _open(path)
    await store.open()
    try:
        for seq in range(4, 8):
            await store.append("sc", _lines("a", range(seq, seq + 1)))
        assert _index_state(path) == (1, 3)
        same = await store.append("sc", _lines("a", range(2, 7)))
        with pytest.raises(SeqConflictError) as after_flush:
            await store.append("sc", [event("a", 5, text="changed")])
        with pytest.raises(SeqConflictError) as before_flush:
            await store.append("sc", [event("a", 2, text="changed")])
        newest = await store.append("sc", _lines("a", range(7, 9)))
    finally:
        await store.close()
    assert (same.accepted, same.duplicates) == (0, 5)
    assert (after_flush.value.seq, before_flush.value.seq) == (5, 2)
    assert (newest.accepted, newest.duplicates) == (1, 1)


_CRASHING_WRITER = """
import asyncio, math, os, signal, sys
from execstream.v1 import events_pb2 as events_pb
from execstream_server.domain.events import SERVER_AUTHOR
from execstream_server.store import sqlite_meta, sqlite_reads
from execstream_server.store.sqlite import SqliteStore
from tests.support.flat_pricer import FlatPricer
from tests.support.helpers import event

async def main(path):
    store = SqliteStore(path, pricer=FlatPricer(), index_flush_s=math.inf)
    await store.open()
    await store.append("sc", [event("a", 1, "started"), event("b", 1, "started")])
    await store.close()  # the index covers revisions 1-2
    store = SqliteStore(path, pricer=FlatPricer(), index_flush_s=math.inf)
    await store.open()
    crossed = events_pb.BudgetCrossed(budget="b", scope="all", period="total")
    budget = events_pb.ExecutionEvent(task_id="b", sidecar_id="sc", budget=crossed)
    await store.append(SERVER_AUTHOR, [budget])  # b's first event after the flush: seq 0
    for seq in range(2, 12):
        await store.append(
            "sc", [event("a", seq, text=f"a{seq}"), event("b", seq, text=f"b{seq}")]
        )
    print("acknowledged", store.revision, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.server
async def test_a_crash_before_the_flush_is_indexed_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    crashed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASHING_WRITER,
        str(path),
        cwd=_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(crashed.communicate(), 120)
    assert crashed.returncode == -signal.SIGKILL, err.decode()
    assert out.decode().split() == ["acknowledged", "23"]
    assert _index_state(path) == (2, 2)  # revisions 3-23 acknowledged, not indexed
    store = _open(path, INDEX_FLUSH_S)
    recovery = await store.open()
    try:
        indexed_at_open = _index_state(path)
        replay_b = await _replay(store, "b")
        same = await store.append("sc", _lines("b", range(3, 12)))
        with pytest.raises(SeqConflictError) as changed_b:
            await store.append("sc", [event("b", 3, text="changed")])
        with pytest.raises(SeqConflictError) as changed_a:
            await store.append("sc", [event("a", 11, text="changed")])
        next_b = await store.append("sc", _lines("b", range(12, 13)))
    finally:
        await store.close()
    assert recovery.revision == 23
    assert indexed_at_open == (23, 23)  # a row per task per report left unindexed
    assert replay_b == [(2, 1), (3, 0)] + [(2 * seq + 1, seq) for seq in range(2, 12)]
    assert (same.accepted, same.duplicates) == (0, 9)
    assert (changed_b.value.seq, changed_a.value.seq) == (3, 11)
    assert (next_b.accepted, next_b.last_revision) == (1, 24)


async def test_compaction_with_a_pending_index_keeps_reads_and_resends_right(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    store = _open(path)
    await store.open()
    try:
        old = [event("old", 1, "started"), event("old", 2, "finished", exit_code=0)]
        await store.append("sc", old)  # revisions 1-2: all compacted below
        for seq in range(1, 9):  # "a" at 3, 5, ..., 17; "b" at 4, 6, ..., 18
            await store.append("sc", _lines("a", range(seq, seq + 1)))
            await store.append("sc", _lines("b", range(seq, seq + 1)))
        events = [
            events_pb.ExecutionEvent.FromString(r.payload) for r in await store.read(0, limit=100)
        ]
        states = [fold(None, [e for e in events if e.task_id == t], tail_bytes=64) for t in "ab"]
        await store.checkpoint(blobs(states), 18)
        assert await store.compact(Retention(max_events=8)) == 10
        assert _index_state(path) == (0, 0)  # nothing flushed yet: all pending
        with pytest.raises(RevisionCompactedError):
            await store.read_frames(9, max_bytes=1 << 20, task_ids=frozenset({"a"}))
        replay_a = await _replay(store, "a", after=10)
        compacted = await store.append("sc", _lines("a", range(1, 3)))
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("a", 6, text="changed")])
    finally:
        await store.close()
    assert replay_a == [(2 * seq + 1, seq) for seq in range(5, 9)]
    assert (compacted.accepted, compacted.duplicates) == (0, 2)
    # The pending rows of compacted commits were dropped; those past the bound flushed.
    assert _chunk_revisions(path) == list(range(11, 19))
    store = _open(path)
    await store.open()
    try:
        assert await _replay(store, "a", after=10) == replay_a
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("b", 7, text="changed")])
    finally:
        await store.close()


async def test_a_flush_writes_the_rows_of_many_commits_and_reads_stay_narrow(
    tmp_path: Path,
) -> None:
    """100 commits of one task each are indexed in one flush (at close here), one row per
    task per commit, so a filtered read of one task reads its 10 frames, not the log's."""
    path = tmp_path / "log.db"
    store = _open(path)
    await store.open()
    try:
        for seq in range(1, 11):
            for task in range(10):
                await store.append("sc", [event(f"t{task}", seq)])
        assert _index_state(path) == (0, 0), "nothing written before the flush"
        unindexed = await store.read_frames(0, max_bytes=1 << 20, task_ids=frozenset({"t0"}))
    finally:
        await store.close()
    assert _index_state(path) == (100, 100)
    store = _open(path)
    await store.open()
    try:
        indexed = await store.read_frames(0, max_bytes=1 << 20, task_ids=frozenset({"t0"}))
    finally:
        await store.close()
    for page in (unindexed, indexed):
        assert [frame.keys.task_ids for frame in page.frames] == [("t0",)] * 10


async def test_a_task_with_a_long_index_and_a_pending_tail_replays_without_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More index rows than one read takes (the read ends at a horizon), then reports after
    the last flush: every event once, in order."""
    monkeypatch.setattr(sqlite_reads, "_SPANS_PER_TASK", 4)
    path = tmp_path / "log.db"
    store = _open(path, 0.0)
    await store.open()
    for seq in range(1, 11):
        await store.append("sc", _pair("long", "x", seq))
    await store.close()
    store = _open(path)
    await store.open()
    try:
        for seq in range(11, 17):
            await store.append("sc", _pair("long", "x", seq))
        assert _index_state(path) == (20, 20)
        replay = await _replay(store, "long")
    finally:
        await store.close()
    assert replay == [(2 * seq - 1, seq) for seq in range(1, 17)]


async def test_a_file_indexed_per_commit_opens_as_indexed_through_its_head(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    store = _open(path, 0.0)
    await store.open()
    for seq in range(1, 6):
        await store.append("sc", _pair("a", "b", seq))
    await store.close()
    conn = sqlite3.connect(path)  # as the layout before the batched index left it
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'indexed_through'")
        conn.execute("UPDATE meta SET value = 2 WHERE key = 'schema_version'")
    conn.close()
    store = _open(path)
    await store.open()
    try:
        opened = _index_state(path)
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("b", 2, text="changed")])
        replay = await _replay(store, "b")
    finally:
        await store.close()
    assert opened == (10, 10)
    assert replay == [(2 * seq, seq) for seq in range(1, 6)]


def test_rows_past_one_statement_are_all_inserted() -> None:
    """``insert_rows`` splits what SQLite's parameter limit does not take in one statement."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INTEGER, d INTEGER)")
    rows = [(n, f"task{n}", n * 2, n * 3) for n in range(1, 601)]  # 2,400 parameters
    sqlite_meta.insert_rows(conn, "t(a, b, c, d)", rows)
    assert conn.execute("SELECT * FROM t ORDER BY a").fetchall() == rows
