"""The embedded store: one SQLite file in WAL mode, one writer thread, group commits.

Reports queue up while a commit is in flight and the next commit takes them all, so the
commit rate adapts to load (one fsync for many reports). A report's future resolves only
after its transaction committed: a crash loses nothing that was acknowledged. The task
index is written in batches about once a second, riding along with a commit
(``sqlite_index``).
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

from execstream_server.config import Retention
from execstream_server.domain import checkpoint, report_keys
from execstream_server.domain.admission import Gate, advance_gate, gate_from_state
from execstream_server.domain.cost import Pricer
from execstream_server.domain.digests import SeqKey
from execstream_server.domain.errors import (
    DomainError,
    ReplicaFailedError,
    ShuttingDownError,
    StoreUnavailableError,
)
from execstream_server.domain.records import CommittedBatch, EventRecord, FramePage
from execstream_server.store import sqlite_index, sqlite_meta, sqlite_reads, sqlite_schema
from execstream_server.store.base import AppendResult, Recovery, committed_seqs, read_records
from execstream_server.store.group_admission import admit_checked
from execstream_server.store.group_commit import Submission, SubmissionQueue
from execstream_server.store.group_frames import plan_frames, stamp

log = logging.getLogger(__name__)

_COMPACT_CHUNK = 50_000
_READ_PAGE_BYTES = 16 * 1024 * 1024  # ``read`` without a byte bound reads pages of this size
_REPORTS = "reports(revision, first_revision, sidecar_id, committed_at, keys, frame)"
ReportRow = tuple[int, int, str, float, bytes, bytes]


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
        index_flush_s: float = sqlite_index.INDEX_FLUSH_S,
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
        self._chain_bytes = [0, 0]  # the checkpoint chain's base and delta bytes
        self._compacted_through = 0
        self._index = sqlite_index.PendingIndex(index_flush_s)  # writer thread only
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
    def _open_sync(self) -> tuple[list[tuple[int, bytes, bool]], int, int, int, str]:
        conn = self._conn()
        try:
            sqlite_schema.prepare(conn, self.path)
        except sqlite_schema.SchemaError as exc:
            raise StoreUnavailableError(str(exc)) from None
        conn.execute("BEGIN IMMEDIATE")
        try:
            log_id = sqlite_meta.ensure_log_id(conn)
            sqlite_index.index_unindexed(conn)  # what a crash before a flush left
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        max_rev = conn.execute("SELECT MAX(revision) FROM reports").fetchone()[0] or 0
        checkpoint_revision = int(meta.get("checkpoint_revision", 0))
        compacted = int(meta.get("compacted_through", 0))
        links = sqlite_meta.checkpoint_links(conn)
        head = max(max_rev, checkpoint_revision, compacted)
        return links, checkpoint_revision, compacted, head, log_id

    async def open(self) -> Recovery:
        opened = await self._run(self._writer, self._open_sync)
        links, checkpoint_revision, compacted, revision, self.log_id = opened
        chain = checkpoint.restore((blob, base) for _, blob, base in links)
        self._chain_bytes = [chain.base_bytes, chain.delta_bytes]
        for state in chain.tasks.values():
            self._gates[state.task_id] = gate_from_state(state)
        self._checkpoint_revision, self._compacted_through = checkpoint_revision, compacted
        self._revision = revision
        await self._replay_gates(checkpoint_revision)
        self._pending = SubmissionQueue(self._max_queued)
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-writer")
        return Recovery(chain.tasks, checkpoint_revision, revision, compacted + 1, self.log_id)

    async def _replay_gates(self, after: int) -> None:
        """Bring the gates past the checkpoint with the events committed after it."""
        cursor = after
        while cursor < self._revision:
            page = await self.read_frames(cursor, max_bytes=_READ_PAGE_BYTES)
            if not page.frames:
                break
            for frame in page.frames:
                for event in frame.events():
                    if event.revision > cursor and event.seq:  # server events: no gate
                        self._gates[event.task_id] = advance_gate(
                            self._gates.get(event.task_id), event, None
                        )
            cursor = page.frames[-1].last_revision

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
        plan = plan_frames(group.outcomes)
        first = self._revision + 1
        committed_at = time.time()
        frames, events, answers = stamp(plan, group.outcomes, first, int(committed_at * 1000))
        if frames:
            reports: list[ReportRow] = [
                (
                    f.last_revision,
                    f.first_revision,
                    f.sidecar_id,
                    committed_at,
                    report_keys.encode(f.keys),
                    f.data,
                )
                for f in frames
            ]
            chunks: list[sqlite_meta.ChunkRow] = [
                (first + c.last_index, c.task_id, c.first_seq, first + c.first_index)
                for c in plan.chunks
            ]
            try:
                await self._run(self._writer, self._insert_sync, reports, chunks)
            except StoreUnavailableError as exc:
                if not self._unwritable:  # one line per outage, not one per commit
                    log.error("commits are failing: %s", exc)
                    self._unwritable = True
                for sub, _ in answers:
                    if not sub.future.done():
                        sub.future.set_exception(exc)
                return
            if self._unwritable:
                log.warning("sqlite store %s takes writes again", self.path)
                self._unwritable = False
            self._revision = frames[-1].last_revision
            self._gates.update(group.gates)
            self._batches.put_nowait(CommittedBatch(frames, events))
        for sub, answer in answers:
            if sub.future.done():
                continue
            if isinstance(answer, DomainError):
                sub.future.set_exception(answer)
            else:
                sub.future.set_result(answer)

    async def _fetch_digests(self, keys: set[SeqKey]) -> dict[SeqKey, bytes]:
        """Content digests of the committed events resent seqs repeat (duplicates only)."""
        found: dict[SeqKey, bytes] = await self._run(
            self._readers, self._digests_sync, sorted(keys)
        )
        return found

    def _digests_sync(self, keys: list[SeqKey]) -> dict[SeqKey, bytes]:
        return sqlite_meta.committed_digests(self._conn(), keys)

    def _insert_sync(self, reports: list[ReportRow], chunks: list[sqlite_meta.ChunkRow]) -> None:
        """The commit's reports, and the task index of the commits since the last flush
        when one is due (``sqlite_index``)."""
        conn = self._conn()
        flush = self._index.due()
        through = reports[-1][0]
        conn.execute("BEGIN IMMEDIATE")
        try:
            sqlite_meta.insert_rows(conn, _REPORTS, reports)
            if flush:
                sqlite_index.write(conn, self._index.rows(chunks), through)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._index.committed(chunks, through, flushed=flush)

    def _flush_index_sync(self) -> None:
        if self._index.empty:
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            sqlite_index.write(conn, self._index.rows(), self._index.through)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._index.flushed()

    async def batches(self) -> AsyncIterator[CommittedBatch]:
        while True:
            item = await self._batches.get()
            if isinstance(item, Exception):
                raise item
            yield item

    # -- read ----------------------------------------------------------------------------
    def _read_frames_sync(
        self, after_revision: int, max_bytes: int, task_ids: frozenset[str] | None
    ) -> FramePage:
        return sqlite_reads.read_frames(self._conn(), after_revision, max_bytes, task_ids)

    async def read_frames(
        self, after_revision: int, *, max_bytes: int, task_ids: frozenset[str] | None = None
    ) -> FramePage:
        page: FramePage = await self._run(
            self._readers, self._read_frames_sync, after_revision, max_bytes, task_ids
        )
        return page

    async def read(
        self, after_revision: int, *, limit: int, max_bytes: int | None = None
    ) -> list[EventRecord]:
        return await read_records(self, after_revision, limit, max_bytes)

    # -- checkpoint and compaction -------------------------------------------------------
    def _link_sync(self, states: Sequence[bytes], revision: int) -> int:
        blob = checkpoint.encode(states, revision)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            sqlite_meta.append_link(conn, blob, revision, base=False)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return len(blob)

    def _merged_sync(self) -> tuple[bytes, int]:
        """The chain merged into one base, and the last link it covers (read, not written)."""
        links = sqlite_meta.checkpoint_links(self._conn())
        return checkpoint.merge((blob, base) for _, blob, base in links), links[-1][0]

    def _rebase_sync(self, base: bytes, through_link: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            sqlite_meta.replace_links(conn, base, checkpoint.revision_of(base), through_link)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    async def checkpoint(self, states: Sequence[bytes], revision: int) -> None:
        """Append a delta link; once deltas outgrow the base, merge the chain into a base.

        The merge reads and joins the links on a reader thread, off the writer, so
        commits never wait for it; links written meanwhile stay after the new base.
        """
        written = await self._run(self._writer, self._link_sync, states, revision)
        self._checkpoint_revision = max(self._checkpoint_revision, revision)
        self._chain_bytes[1] += written
        base_bytes, delta_bytes = self._chain_bytes
        if checkpoint.wants_new_base(base_bytes, delta_bytes):
            base, through_link = await self._run(self._readers, self._merged_sync)
            await self._run(self._writer, self._rebase_sync, base, through_link)
            self._chain_bytes = [len(base), 0]

    def _compact_bound_sync(self, retention: Retention, last: int) -> int:
        bound = self._checkpoint_revision
        if retention.max_events is not None:
            bound = min(bound, last - retention.max_events)
        if retention.max_age_s is not None:
            cutoff = time.time() - retention.max_age_s
            row = (
                self._conn()
                .execute("SELECT MAX(revision) FROM reports WHERE committed_at < ?", (cutoff,))
                .fetchone()
            )
            bound = min(bound, row[0] or 0)
        return bound

    def _compact_chunk_sync(self, through: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Whole frames only: one reaching past ``through`` stays, read from after it.
            conn.execute("DELETE FROM reports WHERE revision <= ?", (through,))
            sqlite_meta.delete_chunks(conn, through)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('compacted_through', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (through,),
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._index.compacted(through)

    async def compact(self, retention: Retention) -> int:
        if retention.max_events is None and retention.max_age_s is None:
            return 0
        bound = await self._run(self._writer, self._compact_bound_sync, retention, self._revision)
        deleted = 0
        while self._compacted_through < bound:
            through = min(bound, self._compacted_through + _COMPACT_CHUNK)
            await self._run(self._writer, self._compact_chunk_sync, through)
            deleted += through - self._compacted_through
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

    async def claim(self, name: str, ttl_s: float) -> bool:
        return True  # one server owns the file: it is the only writer

    async def committed_seqs(self, tasks: Mapping[str, str]) -> dict[str, int]:
        return committed_seqs(self._gates.get, tasks)

    # -- close ---------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer_task is not None and self._pending is not None:
            await self._pending.close(self._writer_task)
        try:
            await self._run(self._writer, self._flush_index_sync)
        except StoreUnavailableError as exc:  # the next open indexes those reports
            log.warning("task index not flushed at close: %s", exc)
        self._writer.shutdown(wait=True)
        if self._readers is not self._writer:
            self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
