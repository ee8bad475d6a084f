"""The one blocking reader per replica: it follows the shared log and feeds the engine.

Every committed batch, whichever replica wrote it, reaches ``batches()`` exactly once and in
revision order: the follower keeps ``delivered`` (the last revision handed on) and reads the
stream after it with ``XREAD BLOCK``. A replica's own commit is handed on at once when it
directly follows ``delivered`` (read-your-writes without a round trip); otherwise the
reader delivers it in turn. Redis load therefore grows with replicas, not with watchers.

Batches this replica committed are marked ``local`` (the stream entry names the replica
that wrote it), so each replica's metrics count only its own ingest and the sum over
replicas is exact, whichever path delivered the batch.

A lost connection or a Redis restart only pauses the reader: it retries with backoff and
resumes after ``delivered``. Two faults cannot be repaired in place and end ``batches()``
with StoreUnavailableError: Redis holding fewer revisions than were delivered (it lost
acknowledged data: persistence was off) and a gap (the log was trimmed past this replica's
cursor while it was unreachable longer than the replica TTL). Restart the replica then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from execstream_server.domain.errors import StoreUnavailableError
from execstream_server.domain.records import CommittedBatch, ReportFrame
from execstream_server.store.redis_scripts import (
    LogBounds,
    RedisKeys,
    Scripts,
    entry_revision,
    frame_from_entry,
    stream_id,
)

log = logging.getLogger(__name__)

_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 1.0
# redis-py can swallow a cancel that lands while it sets up a connection; ``stop`` repeats
# the cancel at this interval (and the loop checks ``_stopping``) until the task ends.
_STOP_POLL_S = 0.05


class LogFollower:
    """See the module docstring. ``bounds`` is the freshest view of the shared log."""

    def __init__(
        self,
        client: Redis,
        scripts: Scripts,
        keys: RedisKeys,
        replica_id: str,
        bounds: LogBounds,
        *,
        needed_from: int,
        read_count: int = 4096,
        block_ms: int = 1000,
        heartbeat_s: float = 1.0,
    ) -> None:
        self._client = client
        self._scripts = scripts
        self._keys = keys
        self._replica_id = replica_id
        self.bounds = bounds
        self.delivered = bounds.revision
        self.failure: StoreUnavailableError | None = None
        # Until the engine starts consuming it replays (needed_from, revision] with
        # ``read``; the heartbeat keeps compaction off those events meanwhile.
        self._needed_from: int | None = needed_from
        self._read_count = read_count
        self._block_ms = block_ms
        self._heartbeat_s = heartbeat_s
        self._queue: asyncio.Queue[CommittedBatch | Exception] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-log-follower")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=_STOP_POLL_S)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def cursor(self) -> int:
        """The oldest revision this replica may still need from the stream."""
        return self.delivered if self._needed_from is None else self._needed_from

    def offer(self, batch: CommittedBatch) -> None:
        """Hand on this replica's own commit now if nothing unread comes before it."""
        if self.failure is None and batch.first_revision == self.delivered + 1:
            self._deliver(batch)

    async def batches(self) -> AsyncIterator[CommittedBatch]:
        self._needed_from = None
        while True:
            item = await self._queue.get()
            if isinstance(item, Exception):
                raise item
            yield item

    def _deliver(self, batch: CommittedBatch) -> None:
        self._queue.put_nowait(batch)
        self.delivered = batch.last_revision

    def _fail(self, message: str) -> None:
        self.failure = StoreUnavailableError(message)
        self._queue.put_nowait(self.failure)

    def fail_with(self, exc: Exception) -> None:
        """End ``batches()`` with ``exc`` after what was delivered (the replica failed)."""
        self._stopping = True
        self._queue.put_nowait(exc)

    # -- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = _BACKOFF_FIRST_S
        outage = False
        next_heartbeat = 0.0
        while self.failure is None and not self._stopping:
            try:
                if loop.time() >= next_heartbeat:
                    # ``offer`` may advance ``delivered`` while the reply is on its way:
                    # compare Redis's revision with what was delivered before asking.
                    delivered = self.delivered
                    bounds = await self._scripts.heartbeat(
                        self._client, self._replica_id, self.cursor
                    )
                    self._check(bounds, delivered)
                    next_heartbeat = loop.time() + self._heartbeat_s
                    continue
                reply = await self._client.xread(
                    {self._keys.log: stream_id(self.delivered)},
                    count=self._read_count,
                    block=self._block_ms,
                )
            except RedisError as exc:
                if not outage:
                    log.warning("redis log reader lost Redis (%s); retrying", exc)
                    outage = True
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            if outage:
                log.info("redis log reader back at revision %d", self.delivered)
                outage = False
            backoff = _BACKOFF_FIRST_S
            if reply:
                self._accept(_entries_of(reply))

    def _check(self, bounds: LogBounds, delivered: int) -> None:
        self.bounds = bounds
        if bounds.revision < delivered:
            self._fail(
                f"redis holds revisions up to {bounds.revision} but this replica already saw "
                f"{delivered}: Redis lost acknowledged data (enable appendonly with "
                f"appendfsync always); restart the replicas"
            )

    def _accept(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Deliver the frames after ``delivered``, one batch per run of equal locality."""
        run: list[ReportFrame] = []
        run_local = False
        expected = self.delivered + 1
        for entry_id, fields in entries:
            if entry_revision(entry_id) < expected:
                continue  # handed on already by ``offer``: skip without decoding
            frame = frame_from_entry(entry_id, fields)
            if frame.first_revision != expected:
                self._deliver_run(run, run_local)
                self._fail(
                    f"redis log was trimmed past this replica: next revision {expected} is "
                    f"gone (oldest read {frame.first_revision}); restart the replica to "
                    f"recover from the checkpoint"
                )
                return
            local = fields.get(b"replica") == self._replica_tag
            if run and local != run_local:
                self._deliver_run(run, run_local)
                run = []
            run.append(frame)
            run_local = local
            expected = frame.last_revision + 1
        self._deliver_run(run, run_local)

    @property
    def _replica_tag(self) -> bytes:
        return self._replica_id.encode()

    def _deliver_run(self, frames: list[ReportFrame], local: bool) -> None:
        if frames:
            events = [event for frame in frames for event in frame.events()]
            self._deliver(CommittedBatch(frames, events, local=local))


def _entries_of(xread_reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of the one stream read: RESP2 [[name, entries]] or RESP3 {name: [entries]}."""
    if isinstance(xread_reply, dict):
        (streams,) = xread_reply.values()
        entries: list[tuple[bytes, dict[bytes, bytes]]] = streams[0]
        return entries
    entries = xread_reply[0][1]
    return entries
