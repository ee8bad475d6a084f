"""What only the SQLite store has: files written by older versions keep working.

``fixtures/sqlite_one_row_per_event.sql`` is a dump of a file written by the store that
kept one row per event (tables ``events`` and ``tasks``): three tasks of two sidecars,
one finished, a checkpoint at revision 10, compaction through revision 4, and a
duplicate resend after the checkpoint. The common contract is in test_conformance.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.errors import (
    RevisionCompactedError,
    SeqConflictError,
    StoreUnavailableError,
)
from execstream_server.domain.events import kind_of
from execstream_server.store import sqlite_meta, sqlite_schema
from execstream_server.store.sqlite import SqliteStore

from ..support.flat_pricer import FlatPricer
from ..support.helpers import blobs, event

FIXTURE = Path(__file__).parent / "fixtures" / "sqlite_one_row_per_event.sql"


def _open(path: Path) -> SqliteStore:
    return SqliteStore(str(path), pricer=FlatPricer())


def _old_file(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, state_pb.TaskState]]:
    """The fixture as a file; its events (revision, task, sidecar, kind, payload) and states."""
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text())
        rows = conn.execute(
            "SELECT revision, task_id, sidecar_id, kind, payload FROM events ORDER BY revision"
        ).fetchall()
        states = [
            state_pb.TaskState.FromString(s) for (s,) in conn.execute("SELECT state FROM tasks")
        ]
    conn.close()
    return rows, {s.task_id: s for s in states}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    return found


async def test_a_file_with_one_row_per_event_opens_with_every_event_and_bound_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    rows, states = _old_file(path)
    assert [r[0] for r in rows] == list(range(5, 17))  # compacted through 4
    store = _open(path)
    recovery = await store.open()
    try:
        records = await store.read(4, limit=100)
        with pytest.raises(RevisionCompactedError):
            await store.read(3, limit=100)
        other = await store.read_frames(4, max_bytes=1 << 20, task_ids=frozenset({"other"}))
        # Digests came along: a changed resend is a conflict, an equal one a duplicate.
        with pytest.raises(SeqConflictError):
            await store.append("sc-1", [event("run", 7, "token", text="changed")])
        same = await store.append("sc-1", [event("run", 7, "token", text="c"), event("run", 8)])
    finally:
        await store.close()
    assert (recovery.revision, recovery.checkpoint_revision, recovery.oldest_revision) == (
        16,
        10,
        5,
    )
    assert recovery.tasks == states and set(states) == {"done", "other", "run"}
    assert [(r.revision, r.task_id, r.sidecar_id, r.kind, r.payload) for r in records] == rows
    other_events = [r.revision for f in other.frames for r in f.records() if r.task_id == "other"]
    assert other_events == [r[0] for r in rows if r[1] == "other"]
    assert (same.accepted, same.duplicates, same.last_revision) == (1, 1, 17)
    assert {"events", "tasks", "digests"}.isdisjoint(_tables(path))
    store = _open(path)  # a second open finds nothing to migrate
    again = await store.open()
    try:
        assert [r.payload for r in await store.read(4, limit=100)][:12] == [r[4] for r in rows]
    finally:
        await store.close()
    assert (again.revision, again.tasks) == (17, states)


async def test_a_migration_stopped_part_way_resumes_without_loss_or_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    rows, _ = _old_file(path)
    monkeypatch.setattr(sqlite_schema, "_MIGRATE_CHUNK", 3)
    insert = sqlite_schema._insert_frames
    calls = 0

    def crash_on_second_chunk(conn: sqlite3.Connection, chunk: list[tuple[Any, ...]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise sqlite3.OperationalError("disk I/O error (planted)")
        insert(conn, chunk)

    monkeypatch.setattr(sqlite_schema, "_insert_frames", crash_on_second_chunk)
    store = _open(path)
    with pytest.raises(StoreUnavailableError, match="planted"):
        await store.open()
    await store.close()
    assert "events" in _tables(path)  # part moved, part not
    monkeypatch.setattr(sqlite_schema, "_insert_frames", insert)
    store = _open(path)
    await store.open()
    try:
        records = await store.read(4, limit=100)
    finally:
        await store.close()
    assert [(r.revision, r.task_id, r.sidecar_id, r.kind, r.payload) for r in records] == rows


async def test_resends_of_events_from_before_digests_are_compared_with_the_stored_event(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _old_file(path)
    with sqlite3.connect(path) as conn:  # what an older version left: no digests at all
        conn.execute("DROP TABLE digests")
    conn.close()
    store = _open(path)
    await store.open()
    try:
        with pytest.raises(SeqConflictError):
            await store.append("sc-1", [event("run", 7, "token", text="changed")])
        same = await store.append("sc-1", [event("run", 7, "token", text="c"), event("run", 8)])
        # The task index covers the old events all the same.
        page = await store.read_frames(4, max_bytes=1 << 20, task_ids=frozenset({"done"}))
    finally:
        await store.close()
    assert (same.accepted, same.duplicates) == (1, 1)
    assert [r.seq for f in page.frames for r in f.events() if r.task_id == "done"] == [5]


async def test_a_commit_opened_by_a_server_event_still_finds_its_resent_seqs(
    tmp_path: Path,
) -> None:
    """A server-written event (seq 0) first in a task's part of a commit: the task index
    keeps the first seq of the sidecar's events, so their resends are still compared."""
    path = tmp_path / "old.db"
    _old_file(path)
    crossed = events_pb.BudgetCrossed(budget="b", scope="all", period="total")
    budget = events_pb.ExecutionEvent(task_id="run", sidecar_id="sc-1", budget=crossed)
    budget.revision = 17
    token = event("run", 8, "token", text="d")
    token.sidecar_id, token.revision = "sc-1", 18
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.revision,
                    e.task_id,
                    e.seq,
                    e.sidecar_id,
                    kind_of(e),
                    1.8e9,
                    e.SerializeToString(),
                )
                for e in (budget, token)
            ],
        )
    conn.close()
    store = _open(path)
    await store.open()
    try:
        with pytest.raises(SeqConflictError):
            await store.append("sc-1", [event("run", 8, "token", text="changed")])
        same = await store.append("sc-1", [event("run", 8, "token", text="d")])
    finally:
        await store.close()
    assert (same.accepted, same.duplicates) == (0, 1)


async def test_a_file_of_a_newer_layout_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = _open(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    conn.close()
    store = _open(path)
    with pytest.raises(StoreUnavailableError) as refused:
        await store.open()
    await store.close()
    assert "written by a newer execstream (schema 99" in str(refused.value)
    assert "\n" not in str(refused.value)


async def test_checkpoint_deltas_are_merged_into_one_base_once_they_outgrow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execstream_server.domain import checkpoint

    monkeypatch.setattr(checkpoint, "MIN_REBASE_BYTES", 10_000)
    path = tmp_path / "chain.db"
    store = _open(path)
    await store.open()
    tail = "y" * 4096
    try:  # a 400 KB first link: past the minimum, merged into a base at once
        await store.checkpoint(
            blobs(state_pb.TaskState(task_id=f"t{i}", output_tail=tail) for i in range(100)), 1
        )
        links_after_base = _links(path)
        for revision in range(2, 150):  # deltas of one task each, until they pass the base
            state = state_pb.TaskState(task_id="t0", last_seq=revision, output_tail=tail)
            await store.checkpoint(blobs([state]), revision)
    finally:
        await store.close()
    assert links_after_base == [True]
    assert _links(path)[0] and len(_links(path)) < 148 - 90  # merged again on the way
    store = _open(path)
    recovery = await store.open()
    await store.close()
    assert recovery.checkpoint_revision == 149
    assert recovery.tasks["t0"].last_seq == 149 and len(recovery.tasks) == 100


def _links(path: Path) -> list[bool]:
    """Whether each checkpoint link is a base, in write order."""
    with sqlite3.connect(path) as conn:
        found = [bool(b) for (b,) in conn.execute("SELECT base FROM checkpoints ORDER BY link")]
    conn.close()
    return found


async def test_a_resent_seq_finds_its_commit_in_one_index_step(tmp_path: Path) -> None:
    """A resend of old seqs looks each one up by seq through an index, not by scanning the
    task's newer commits (the commit path is serial: a scan per seq would stall everyone)."""
    path = tmp_path / "log.db"
    store = _open(path)
    await store.open()
    try:
        await store.append("sc", [event("long", 1, "started")])
        for seq in range(2, 40):
            await store.append("sc", [event("long", seq, "stdout", text=f"line {seq}")])
        resend = [event("long", seq, "stdout", text=f"line {seq}") for seq in range(2, 40)]
        again = await store.append("sc", resend)
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("long", 7, "stdout", text="changed")])
    finally:
        await store.close()
    assert (again.accepted, again.duplicates) == (0, 38)
    with sqlite3.connect(path) as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(f"EXPLAIN QUERY PLAN {sqlite_meta._SEQ_CHUNK_SQL}", ("long", 5))
        )
    assert "task_chunks_by_seq" in plan and "TEMP B-TREE" not in plan, plan
