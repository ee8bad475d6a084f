"""The embedded store: one SQLite file in WAL mode, one writer thread, group commits.

Reports queue up while a commit is in flight and the next commit takes them all, so the
commit rate adapts to load (one fsync for many reports). A report's future resolves only
after its transaction committed: a crash loses nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.config import Retention
from execstream_server.domain.admission import Gate, advance_gate, gate_from_state
from execstream_server.domain.cost import Pricer
from execstream_server.domain.digests import SeqKey
from execstream_server.domain.errors import (
    ExecstreamError,
    ReplicaFailedError,
    RevisionCompactedError,
    ShuttingDownError,
    StoreUnavailableError,
)
from execstream_server.domain.events import kind_of
from execstream_server.domain.records import CommittedBatch, EventRecord
from execstream_server.store import sqlite_meta
from execstream_server.store.base import AppendResult, Recovery, committed_seqs
from execstream_server.store.group_admission import admit_checked, digest_chunks
from execstream_server.store.group_commit import Submission, SubmissionQueue

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    revision     INTEGER PRIMARY KEY,
    task_id      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    sidecar_id   TEXT    NOT NULL,
    kind         INTEGER NOT NULL,
    committed_at REAL    NOT NULL,
    payload      BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    state   BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""
_COMPACT_CHUNK = 50_000
_READ_SQL = (
    "SELECT revision, task_id, sidecar_id, kind, payload FROM events "
    "WHERE revision > ? ORDER BY revision LIMIT ?"
)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: on SQLITE_FULL (and some I/O errors)
    SQLite has rolled it back already, and a second ROLLBACK would replace the real error
    with "cannot rollback - no transaction is active"."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def describe_sqlite_error(path: str, exc: sqlite3.Error) -> str:
    """One line an operator can act on; a full disk is said as such."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return (
            f"sqlite store {path}: the disk is full (SQLITE_FULL: {exc}); nothing acknowledged "
            "is lost; free space and the store takes writes again"
        )
    return f"sqlite store {path}: {exc}"


class SqliteStore:
    """``LogStore`` on a SQLite file (or ``:memory:`` for throwaway runs)."""

    shared = False

    def __init__(
        self,
        path: str,
        *,
        pricer: Pricer,
        commit_max_events: int = 2048,
        synchronous: str = "FULL",
        max_queued_reports: int = 1024,
    ) -> None:
        self.path = path
        self._pricer = pricer
        self._commit_max_events = commit_max_events
        self._synchronous = synchronous
        self._max_queued = max_queued_reports
        memory = path == ":memory:"
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = (
            self._writer if memory else ThreadPoolExecutor(2, thread_name_prefix="sqlite-read")
        )
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._gates: dict[str, Gate] = {}
        self._revision = 0
        self._checkpoint_revision = 0
        self._compacted_through = 0
        self._pending: SubmissionQueue | None = None
        self._batches: asyncio.Queue[CommittedBatch | Exception] = asyncio.Queue()
        self._failure: ReplicaFailedError | None = None
        self._unwritable = False  # the last commit failed (logged once per outage)
        self._writer_task: asyncio.Task[None] | None = None
        self._closed = False
        self.log_id = ""

    # -- threads -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    async def _run(self, executor: ThreadPoolExecutor, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(describe_sqlite_error(self.path, exc)) from exc

    # -- open ----------------------------------------------------------------------------
    def _open_sync(self) -> tuple[list[bytes], int, int, int, str]:
        conn = self._conn()
        conn.executescript(SCHEMA + sqlite_meta.SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        try:
            log_id = sqlite_meta.ensure_log_id(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        max_rev = conn.execute("SELECT MAX(revision) FROM events").fetchone()[0] or 0
        checkpoint = int(meta.get("checkpoint_revision", 0))
        compacted = int(meta.get("compacted_through", 0))
        states = [row[0] for row in conn.execute("SELECT state FROM tasks")]
        return states, checkpoint, compacted, max(max_rev, checkpoint, compacted), log_id

    async def open(self) -> Recovery:
        opened = await self._run(self._writer, self._open_sync)
        blobs, checkpoint, compacted, revision, self.log_id = opened
        tasks = {}
        for blob in blobs:
            state = state_pb.TaskState.FromString(blob)
            tasks[state.task_id] = state
            self._gates[state.task_id] = gate_from_state(state)
        self._checkpoint_revision, self._compacted_through = checkpoint, compacted
        self._revision = revision
        await self._replay_gates(checkpoint)
        self._pending = SubmissionQueue(self._max_queued)
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")
        return Recovery(tasks, checkpoint, revision, compacted + 1, self.log_id)

    async def _replay_gates(self, after: int) -> None:
        """Bring the gates past the checkpoint with the events committed after it."""
        cursor = after
        while cursor < self._revision:
            records = await self.read(cursor, limit=10_000)
            if not records:
                break
            for record in records:
                event = events_pb.ExecutionEvent.FromString(record.payload)
                if not event.seq:
                    continue  # the server's own events never move a gate
                self._gates[event.task_id] = advance_gate(
                    self._gates.get(event.task_id), event, None
                )
            cursor = records[-1].revision

    # -- append --------------------------------------------------------------------------
    async def append(
        self, sidecar_id: str, events: Sequence[events_pb.ExecutionEvent]
    ) -> AppendResult:
        if self._failure is not None:
            raise self._failure
        if self._closed or self._pending is None:
            raise ShuttingDownError()
        return await self._pending.submit(sidecar_id, events)

    async def _write_loop(self) -> None:
        assert self._pending is not None
        async for group in self._pending.groups(self._commit_max_events):
            delivered = self._revision  # every batch through it went to the engine
            try:
                await self._commit(group)
            except Exception as exc:
                # A bug between admission and the batch reaching the engine: whether the
                # group committed is unknown here, so stop (the engine fails the replica)
                # rather than go on with gates and revisions that may disagree with the file.
                self._failure = ReplicaFailedError(delivered)
                self._pending.fail_queued(self._failure)
                for sub in group:
                    if not sub.future.done():
                        sub.future.set_exception(self._failure)
                self._batches.put_nowait(exc)
                return

    async def _commit(self, submissions: list[Submission]) -> None:
        group = await admit_checked(submissions, self._gates.get, self._pricer, self._fetch_digests)
        committed_at = time.time()
        revision = self._revision
        records: list[EventRecord] = []
        events: list[events_pb.ExecutionEvent] = []
        rows: list[tuple[int, str, int, str, int, float, bytes]] = []
        outcomes: list[tuple[Submission, ExecstreamError | AppendResult]] = []
        for sub, admission in group.outcomes:
            if isinstance(admission, ExecstreamError):
                outcomes.append((sub, admission))
                continue
            for event in admission.accepted:
                revision += 1
                event.revision = revision
                payload = event.SerializeToString()
                kind = kind_of(event)
                records.append(
                    EventRecord(revision, event.task_id, event.sidecar_id, kind, payload)
                )
                events.append(event)
                rows.append(
                    (
                        revision,
                        event.task_id,
                        event.seq,
                        event.sidecar_id,
                        kind,
                        committed_at,
                        payload,
                    )
                )
            result = AppendResult(
                len(admission.accepted), admission.duplicates, revision, admission.last_seq
            )
            outcomes.append((sub, result))
        if rows:
            chunks = [
                (c.last_revision, c.task_id, c.first_seq, c.digests)
                for c in digest_chunks(group.outcomes)
            ]
            try:
                await self._run(self._writer, self._insert_sync, rows, chunks)
            except StoreUnavailableError as exc:
                if not self._unwritable:  # one line per outage, not one per commit
                    log.error("commits are failing: %s", exc)
                    self._unwritable = True
                for sub, _ in outcomes:
                    if not sub.future.done():
                        sub.future.set_exception(exc)
                return
            if self._unwritable:
                log.warning("sqlite store %s takes writes again", self.path)
                self._unwritable = False
            self._revision = revision
            self._gates.update(group.gates)
            self._batches.put_nowait(CommittedBatch(records, events))
        for sub, outcome in outcomes:
            if sub.future.done():
                continue
            if isinstance(outcome, ExecstreamError):
                sub.future.set_exception(outcome)
            else:
                sub.future.set_result(outcome)

    async def _fetch_digests(self, keys: set[SeqKey]) -> dict[SeqKey, bytes]:
        """Committed digests of resent seqs (the duplicate path only)."""
        found: dict[SeqKey, bytes] = await self._run(self._writer, self._digests_sync, sorted(keys))
        return found

    def _digests_sync(self, keys: list[SeqKey]) -> dict[SeqKey, bytes]:
        return sqlite_meta.committed_digests(self._conn(), keys)

    def _insert_sync(
        self,
        rows: list[tuple[int, str, int, str, int, float, bytes]],
        chunks: list[tuple[int, str, int, bytes]],
    ) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO events(revision, task_id, seq, sidecar_id, kind, committed_at, "
                "payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            sqlite_meta.insert_digests(conn, chunks)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    async def batches(self) -> AsyncIterator[CommittedBatch]:
        while True:
            item = await self._batches.get()
            if isinstance(item, Exception):
                raise item
            yield item

    # -- read ----------------------------------------------------------------------------
    def _read_sync(
        self, after_revision: int, limit: int, max_bytes: int | None
    ) -> tuple[int, list[tuple[Any, ...]]]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='compacted_through'").fetchone()
            compacted = int(row[0]) if row else 0
            if after_revision < compacted:
                return compacted, []
            cursor = conn.execute(_READ_SQL, (after_revision, limit))
            if max_bytes is None:
                return compacted, cursor.fetchall()
            rows: list[tuple[Any, ...]] = []
            size = 0
            for found in cursor:  # rows are fetched one by one: stop before the bound
                size += len(found[4])
                if rows and size > max_bytes:
                    break
                rows.append(found)
            return compacted, rows
        finally:
            conn.execute("COMMIT")

    async def read(
        self, after_revision: int, *, limit: int, max_bytes: int | None = None
    ) -> list[EventRecord]:
        compacted, rows = await self._run(
            self._readers, self._read_sync, after_revision, limit, max_bytes
        )
        if after_revision < compacted:
            raise RevisionCompactedError(after_revision, compacted + 1)
        return [EventRecord(*row) for row in rows]

    # -- checkpoint and compaction -------------------------------------------------------
    def _checkpoint_sync(self, rows: list[tuple[str, bytes]], revision: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO tasks(task_id, state) VALUES (?, ?) "
                "ON CONFLICT(task_id) DO UPDATE SET state = excluded.state",
                rows,
            )
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('checkpoint_revision', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
                (revision,),
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    async def checkpoint(self, states: Sequence[state_pb.TaskState], revision: int) -> None:
        rows = [(state.task_id, state.SerializeToString()) for state in states]
        await self._run(self._writer, self._checkpoint_sync, rows, revision)
        self._checkpoint_revision = max(self._checkpoint_revision, revision)

    def _compact_bound_sync(self, retention: Retention, last: int) -> int:
        bound = self._checkpoint_revision
        if retention.max_events is not None:
            bound = min(bound, last - retention.max_events)
        if retention.max_age_s is not None:
            cutoff = time.time() - retention.max_age_s
            row = (
                self._conn()
                .execute("SELECT MAX(revision) FROM events WHERE committed_at < ?", (cutoff,))
                .fetchone()
            )
            bound = min(bound, row[0] or 0)
        return bound

    def _compact_chunk_sync(self, through: int) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = conn.execute("DELETE FROM events WHERE revision <= ?", (through,)).rowcount
            sqlite_meta.delete_digests(conn, through)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('compacted_through', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (through,),
            )
            conn.execute("COMMIT")
            return int(deleted)
        except BaseException:
            _rollback(conn)
            raise

    async def compact(self, retention: Retention) -> int:
        if retention.max_events is None and retention.max_age_s is None:
            return 0
        bound = await self._run(self._writer, self._compact_bound_sync, retention, self._revision)
        deleted = 0
        while self._compacted_through < bound:
            through = min(bound, self._compacted_through + _COMPACT_CHUNK)
            deleted += await self._run(self._writer, self._compact_chunk_sync, through)
            self._compacted_through = through
        return deleted

    @property
    def oldest_revision(self) -> int:
        return self._compacted_through + 1

    @property
    def revision(self) -> int:
        return self._revision

    async def head_revision(self) -> int:
        return self._revision

    async def committed_seqs(self, tasks: Mapping[str, str]) -> dict[str, int]:
        return committed_seqs(self._gates.get, tasks)

    # -- close ---------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer_task is not None and self._pending is not None:
            await self._pending.close(self._writer_task)
        self._writer.shutdown(wait=True)
        if self._readers is not self._writer:
            self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
