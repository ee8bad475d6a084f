"""The shared store: one Redis holds the log of every replica (``--store redis://...``).

- The log is one Stream with one entry per report frame: entry ``<last revision>-0`` holds
  the first revision, the sidecar, the frame's keys (task and kind per event), the commit
  time, the replica that wrote it (so only a replica's own batches feed its metrics) and
  the ready-to-send frame. Revisions are global and gap-free: ``commit.lua`` assigns them
  and appends in one atomic step (see ``redis_commit`` for admission and the CAS). Each
  task's revision span per commit goes to its task index, which filtered replays read
  (``redis_reads``).
- Reports queue up while a commit is in flight and the next commit takes them all (group
  commit, one EVALSHA). A report is acknowledged only after Redis answered the script;
  with ``appendonly yes`` + ``appendfsync always`` that answer means on disk.
- Each replica runs one blocking reader (``redis_follower``) that hands every committed
  batch, its own and the others', to the engine in revision order.
- Task states are checkpointed as a chain of links (``domain/checkpoint.py``) that every
  replica appends to; compaction trims the stream, never past the checkpoint or a live
  replica's cursor.
- A log written with one stream entry per event (an earlier layout) is refused at open
  with one line saying how to migrate it (docs/operations.md).
- A Redis outage fails calls with StoreUnavailableError (UNAVAILABLE); nothing retries a
  commit behind the caller's back, and everything works again once Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from execstream.v1 import events_pb2 as events_pb
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError

from execstream_server.config import ConfigError, Retention
from execstream_server.domain import checkpoint
from execstream_server.domain.cost import Pricer
from execstream_server.domain.digests import SeqKey
from execstream_server.domain.errors import (
    DomainError,
    ReplicaFailedError,
    ShuttingDownError,
    StoreUnavailableError,
)
from execstream_server.domain.records import CommittedBatch, EventRecord, FramePage
from execstream_server.store import redis_reads
from execstream_server.store.base import AppendResult, Recovery, committed_seqs, read_records
from execstream_server.store.group_commit import Submission, SubmissionQueue
from execstream_server.store.redis_commit import GateCache, GroupPlan, plan_group, settle
from execstream_server.store.redis_follower import LogFollower
from execstream_server.store.redis_scripts import (
    LOG_FORMAT,
    ChainSizes,
    Opened,
    RedisKeys,
    Scripts,
    describe_old_log,
    gate_from_bytes,
    link_of,
    unavailable_on_redis_error,
)

log = logging.getLogger(__name__)

_MAX_CONFLICT_ROUNDS = 16
_COMPACT_CHUNK = 50_000
_LOADING_POLL_S = 0.2


def split_store_url(url: str) -> tuple[str, str]:
    """Take our own ``key_prefix`` query parameter off a Redis URL (redis-py rejects it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for key, value in query if key == "key_prefix"), "execstream")
    rest = urlencode([(key, value) for key, value in query if key != "key_prefix"])
    if not prefix or any(c in prefix for c in "{}"):
        raise ConfigError(f"--store: key_prefix {prefix!r} must be non-empty and without braces")
    return urlunsplit(parts._replace(query=rest)), prefix


class RedisStore:
    """``LogStore`` on a Redis (7 or later) shared by every replica."""

    # Replicas share the log: metrics count only local batches and are not seeded from
    # the recovered fold (app.py reads this).
    shared = True

    def __init__(
        self,
        url: str,
        *,
        pricer: Pricer,
        commit_max_events: int = 2048,
        max_queued_reports: int = 1024,
        command_timeout_s: float = 10.0,
        replica_ttl_s: float = 60.0,
        heartbeat_s: float = 1.0,
        key_prefix: str | None = None,
    ) -> None:
        redis_url, url_prefix = split_store_url(url)
        self.url = url
        self.keys = RedisKeys.for_prefix(key_prefix or url_prefix)
        self.replica_id = uuid.uuid4().hex[:12]  # tags every log entry: keep it short
        self._redis_url = redis_url
        self._pricer = pricer
        self._commit_max_events = commit_max_events
        self._max_queued = max_queued_reports
        self._command_timeout_s = command_timeout_s
        self._replica_ttl_ms = int(replica_ttl_s * 1000)
        self._heartbeat_s = heartbeat_s
        self._gates = GateCache()
        self._chain = ChainSizes(0, 0)
        self._revision = 0  # the newest revision this replica knows was assigned
        self._compacted_through = 0
        self._client: Redis | None = None
        self._reader_client: Redis | None = None
        self._scripts: Scripts | None = None
        self._follower: LogFollower | None = None
        self._pending: SubmissionQueue | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._failure: ReplicaFailedError | None = None
        self._closed = False
        self.log_id = ""

    # -- open ----------------------------------------------------------------------------
    def _connect(self, socket_timeout: float, max_connections: int) -> Redis:
        """A client that fails fast: no hidden retries, so a failure reaches the caller.

        The pool blocks (up to the command timeout) when every connection is busy, so a
        burst of catching-up watchers queues for Redis instead of failing.
        """
        try:
            pool = BlockingConnectionPool.from_url(
                self._redis_url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=min(socket_timeout, 5.0),
                retry=Retry(NoBackoff(), 0),
                max_connections=max_connections,
                timeout=socket_timeout,
            )
        except ValueError as exc:
            raise ConfigError(f"--store {self.url}: {exc}") from exc
        return Redis.from_pool(pool)  # the client owns the pool: aclose() closes both

    async def open(self) -> Recovery:
        self._client = self._connect(self._command_timeout_s, 64)
        self._scripts = Scripts(self._client, self.keys)
        try:
            opened = await self._open_when_loaded(self._scripts)
            if opened.log_format != LOG_FORMAT:
                raise StoreUnavailableError(describe_old_log(self.keys, opened.log_format))
            chain = await asyncio.to_thread(
                checkpoint.restore, ((blob, base) for _, blob, base in opened.links)
            )
        except BaseException:
            await self._client.aclose()
            self._client = None
            raise
        bounds, self.log_id = opened.bounds, opened.log_id
        self._chain = ChainSizes(chain.base_bytes, chain.delta_bytes)
        self._revision = bounds.revision
        self._compacted_through = bounds.compacted_through
        # The reader blocks up to a second per XREAD; its socket must outlast that.
        self._reader_client = self._connect(self._command_timeout_s + 1.0, 1)
        self._follower = LogFollower(
            self._reader_client,
            self._scripts,
            self.keys,
            self.replica_id,
            bounds,
            needed_from=bounds.checkpoint_revision,
            heartbeat_s=self._heartbeat_s,
        )
        self._follower.start()
        self._pending = SubmissionQueue(self._max_queued)
        self._writer_task = asyncio.create_task(self._write_loop(), name="redis-writer")
        log.debug(
            "redis store %s: revision %d, %d checkpointed tasks",
            self.keys.log,
            bounds.revision,
            len(chain.tasks),
        )
        return Recovery(
            chain.tasks,
            bounds.checkpoint_revision,
            bounds.revision,
            bounds.compacted_through + 1,
            self.log_id,
        )

    async def _open_when_loaded(self, scripts: Scripts) -> Opened:
        """Wait out a Redis that is still loading its AOF; fail on anything else.

        A replica restarted together with Redis would otherwise exit on ``LOADING`` and
        depend on its supervisor to try again.
        """
        waiting = False
        while True:
            try:
                return await scripts.open(self.replica_id)
            except StoreUnavailableError as exc:
                if not isinstance(exc.__cause__, BusyLoadingError):
                    raise
                if not waiting:
                    log.info("redis store: Redis is loading its data; waiting")
                    waiting = True
                await asyncio.sleep(_LOADING_POLL_S)

    # -- append --------------------------------------------------------------------------
    async def append(
        self, sidecar_id: str, events: Sequence[events_pb.ExecutionEvent]
    ) -> AppendResult:
        if self._failure is not None:
            raise self._failure
        if self._closed or self._pending is None:
            raise ShuttingDownError()
        if self._follower is not None and self._follower.failure is not None:
            raise self._follower.failure
        return await self._pending.submit(sidecar_id, events)

    async def _write_loop(self) -> None:
        assert self._pending is not None
        async for group in self._pending.groups(self._commit_max_events):
            await self._commit_group(group)

    async def _commit_group(self, group: list[Submission]) -> None:
        try:
            plan, first_revision, committed_ms = await self._commit(group)
        except DomainError as exc:
            for sub in group:
                if not sub.future.done():
                    sub.future.set_exception(exc)
            return
        except Exception as exc:
            self._fail(group, exc)
            return
        try:
            self._settle(group, plan, first_revision, committed_ms)
        except Exception as exc:
            self._fail(group, exc)

    def _settle(
        self, group: list[Submission], plan: GroupPlan, first_revision: int, committed_ms: int
    ) -> None:
        batch, answers = settle(plan, first_revision, committed_ms)
        if batch is not None:
            self._revision = max(self._revision, batch.last_revision)
            assert self._follower is not None
            self._follower.offer(batch)
        self._gates.committed(plan.gates)
        for sub, answer in answers:
            if sub.future.done():
                continue
            if isinstance(answer, DomainError):
                sub.future.set_exception(answer)
            else:
                sub.future.set_result(answer)

    def _fail(self, group: list[Submission], exc: Exception) -> None:
        """A bug while committing: this replica stops (the engine logs it and exits).

        Whether Redis took the group is unknown here, and this replica's gates may no
        longer match Redis: the log in Redis stays the truth for the restart.
        """
        assert self._pending is not None and self._follower is not None
        self._failure = ReplicaFailedError(self._follower.delivered)
        self._pending.fail_queued(self._failure)
        for sub in group:
            if not sub.future.done():
                sub.future.set_exception(self._failure)
        self._follower.fail_with(exc)

    async def _commit(self, group: list[Submission]) -> tuple[GroupPlan, int, int]:
        """Admit and run the CAS until Redis agrees with the gates admission used."""
        assert self._scripts is not None
        digests: dict[SeqKey, bytes] = {}
        rounds = 0
        while rounds < _MAX_CONFLICT_ROUNDS:
            plan = plan_group(group, self._gates, self._pricer, digests)
            missing = plan.unchecked - digests.keys()
            if missing:  # resent seqs: compare them with the committed content first
                digests.update(await self._fetch_digests(missing))
                continue
            rounds += 1
            args, chunk_keys = plan.script_args(self.keys)
            reply = await self._scripts.commit(self._revision, self.replica_id, args, chunk_keys)
            if reply.conflicts is not None:
                self._gates.refresh(reply.conflicts)
                continue
            if reply.lost_at is not None:
                raise StoreUnavailableError(
                    f"redis store: Redis holds revisions up to {reply.lost_at} but this "
                    f"replica saw {self._revision}; Redis lost acknowledged data (needs "
                    f"appendonly yes, appendfsync always)"
                )
            self._revision = max(self._revision, reply.last_revision)
            return plan, reply.first_revision, reply.committed_ms
        raise StoreUnavailableError(
            "redis store: tasks kept changing under this report (another replica is writing "
            "them); retry"
        )

    async def _fetch_digests(self, keys: set[SeqKey]) -> dict[SeqKey, bytes]:
        """Content digests of the committed events resent seqs repeat (duplicates only)."""
        assert self._client is not None
        return await redis_reads.committed_digests(self._client, self.keys, sorted(keys))

    async def batches(self) -> AsyncIterator[CommittedBatch]:
        assert self._follower is not None, "open() first"
        async for batch in self._follower.batches():
            yield batch

    # -- read ----------------------------------------------------------------------------
    async def read_frames(
        self, after_revision: int, *, max_bytes: int, task_ids: frozenset[str] | None = None
    ) -> FramePage:
        assert self._client is not None, "open() first"
        page, compacted = await redis_reads.read_frames(
            self._client, self.keys, after_revision, max_bytes, task_ids
        )
        self._compacted_through = max(self._compacted_through, compacted)
        return page

    async def read(
        self, after_revision: int, *, limit: int, max_bytes: int | None = None
    ) -> list[EventRecord]:
        return await read_records(self, after_revision, limit, max_bytes)

    async def committed_seqs(self, tasks: Mapping[str, str]) -> dict[str, int]:
        assert self._client is not None, "open() first"
        ids = list(tasks)
        if not ids:
            return {}
        with unavailable_on_redis_error("read gates"):
            blobs = await self._client.hmget(self.keys.gates, ids)
        pairs = zip(ids, blobs, strict=True)
        gates = {t: gate_from_bytes(b) for t, b in pairs if isinstance(b, bytes) and b}
        return committed_seqs(gates.get, tasks)

    async def head_revision(self) -> int:
        assert self._client is not None, "open() first"
        with unavailable_on_redis_error("read the head revision"):
            raw = await self._client.get(self.keys.revision)
        return int(raw or 0)

    async def claim(self, name: str, ttl_s: float) -> bool:
        assert self._client is not None, "open() first"
        with unavailable_on_redis_error("claim " + name):
            taken = await self._client.set(
                self.keys.claim_prefix + name, self.replica_id, nx=True, px=int(ttl_s * 1000)
            )
        return bool(taken)

    # -- checkpoint and compaction -------------------------------------------------------
    async def checkpoint(self, states: Sequence[bytes], revision: int) -> None:
        """Append a delta link; once deltas outgrow the base, merge the chain into a base."""
        assert self._scripts is not None and self._client is not None
        blob = checkpoint.encode(states, revision)
        self._chain = await self._scripts.checkpoint(revision, blob)
        if checkpoint.wants_new_base(self._chain.base, self._chain.delta):
            with unavailable_on_redis_error("read the checkpoint chain"):
                flat = await self._client.hgetall(self.keys.checkpoint_links)
            links = sorted(link_of(name, value) for name, value in flat.items())
            base = await asyncio.to_thread(
                checkpoint.merge, [(blob, is_base) for _, blob, is_base in links]
            )
            self._chain = await self._scripts.checkpoint(
                checkpoint.revision_of(base), base, links[-1][0]
            )

    async def compact(self, retention: Retention) -> int:
        if retention.max_events is None and retention.max_age_s is None:
            return 0
        assert self._scripts is not None and self._follower is not None
        cutoff_ms = -1
        if retention.max_age_s is not None:
            cutoff_ms = int((time.time() - retention.max_age_s) * 1000)
        deleted_total = 0
        while True:
            before = self._compacted_through
            deleted, compacted = await self._scripts.compact(
                max_events=-1 if retention.max_events is None else retention.max_events,
                cutoff_ms=cutoff_ms,
                replica_ttl_ms=self._replica_ttl_ms,
                max_chunk=_COMPACT_CHUNK,
                replica_id=self.replica_id,
                # A replica that compacts has replayed its recovery already, so its own
                # cursor is what it delivered; other replicas' cursors come from Redis.
                cursor=self._follower.delivered,
            )
            deleted_total += deleted
            self._compacted_through = max(self._compacted_through, compacted)
            if compacted - before < _COMPACT_CHUNK:
                await self._drop_compacted_indexes(compacted)
                return deleted_total

    async def _drop_compacted_indexes(self, compacted_through: int) -> None:
        """Drop the task index of tasks whose finished event was compacted (all their events).

        A running task's index loses its compacted entries at its next commit (``commit.lua``);
        a resend of a compacted seq is then a duplicate that cannot be compared, as with
        SQLite.
        """
        assert self._client is not None
        while True:
            with unavailable_on_redis_error("task index cleanup"):
                found = await self._client.zrangebyscore(
                    self.keys.finished, "-inf", compacted_through, start=0, num=_COMPACT_CHUNK
                )
                task_ids = [bytes(t) for t in found if isinstance(t, bytes)]
                if not task_ids:
                    return
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.delete(*(self.keys.task_index(t.decode()) for t in task_ids))
                    pipe.zrem(self.keys.finished, *task_ids)
                    await pipe.execute()
            if len(task_ids) < _COMPACT_CHUNK:
                return

    @property
    def oldest_revision(self) -> int:
        compacted = self._compacted_through
        if self._follower is not None:
            compacted = max(compacted, self._follower.bounds.compacted_through)
        return compacted + 1

    @property
    def revision(self) -> int:
        if self._follower is not None:
            return max(self._revision, self._follower.delivered)
        return self._revision

    # -- close ---------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer_task is not None and self._pending is not None:
            await self._pending.close(self._writer_task)
        if self._follower is not None:
            await self._follower.stop()
        if self._client is not None:
            with contextlib.suppress(DomainError), unavailable_on_redis_error("leave"):
                await self._leave(self._client)
            await self._client.aclose()
        if self._reader_client is not None:
            await self._reader_client.aclose()

    async def _leave(self, client: Redis) -> None:
        """Unregister, so compaction stops waiting for this replica's cursor."""
        async with client.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.replicas, self.replica_id)
            pipe.zrem(self.keys.replicas_seen, self.replica_id)
            await pipe.execute()
