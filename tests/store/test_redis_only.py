"""What only the Redis store has: a shared log between replicas, URLs with auth and TLS,
key prefixes. The common contract is in test_conformance.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from execstream_server.config import Retention
from execstream_server.domain.errors import SeqConflictError, StoreUnavailableError
from execstream_server.domain.records import CommittedBatch
from execstream_server.store.redis import RedisStore

from ..support.certs import write_certs
from ..support.flat_pricer import FlatPricer
from ..support.helpers import event, task_events, wait_for
from ..support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def round_trip(url: str) -> int:
    """Open a store at ``url``, commit one task and read it back; return its revision."""
    store = RedisStore(url, pricer=FlatPricer())
    await store.open()
    try:
        result = await store.append("sc", task_events("a", 1))
        assert len(await store.read(0, limit=10)) == 3
        return result.last_revision
    finally:
        await store.close()


async def test_each_replica_gets_every_batch_and_knows_which_are_its_own(
    redis_server: RedisServer,
) -> None:
    one = RedisStore(redis_server.url, pricer=FlatPricer())
    two = RedisStore(redis_server.url, pricer=FlatPricer())
    await one.open()
    await two.open()
    try:
        await one.append("sc1", task_events("a", 2))
        await two.append("sc2", task_events("b", 1))
        seen: dict[str, list[CommittedBatch]] = {"one": [], "two": []}
        for name, store in (("one", one), ("two", two)):
            async for batch in store.batches():
                seen[name].append(batch)
                if batch.last_revision == 7:
                    break
    finally:
        await one.close()
        await two.close()
    for name, mine in (("one", {"sc1"}), ("two", {"sc2"})):
        revisions = [r.revision for b in seen[name] for f in b.frames for r in f.records()]
        assert revisions == list(range(1, 8))
        for batch in seen[name]:
            assert batch.local == ({f.sidecar_id for f in batch.frames} <= mine)


def test_a_password_in_the_url_opens_a_protected_redis(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", password="s3cret-pw").start()
    try:
        assert asyncio.run(round_trip(server.url)) == 3
    finally:
        server.kill()


def test_a_wrong_password_fails_open_as_unavailable(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", password="s3cret-pw").start()
    wrong = server.url.replace("s3cret-pw", "nope")
    try:
        with pytest.raises(StoreUnavailableError, match="redis store: open failed"):
            asyncio.run(round_trip(wrong))
    finally:
        server.kill()


def test_a_rediss_url_talks_tls_to_redis(tmp_path: Path) -> None:
    certs = write_certs(tmp_path)
    server = RedisServer(tmp_path / "redis", tls=certs).start()
    try:
        assert server.url.startswith("rediss://")
        assert asyncio.run(round_trip(server.url)) == 3
    finally:
        server.kill()


def test_a_rediss_url_with_a_client_certificate_passes_mutual_tls(tmp_path: Path) -> None:
    certs = write_certs(tmp_path)
    server = RedisServer(tmp_path / "redis", tls=certs, client_certs=True).start()
    try:
        assert "ssl_certfile=" in server.url
        assert asyncio.run(round_trip(server.url)) == 3
        without_cert = server.url.split("&ssl_certfile=")[0]
        with pytest.raises(StoreUnavailableError):
            asyncio.run(round_trip(without_cert))
    finally:
        server.kill()


async def test_key_prefixes_keep_deployments_apart_in_one_redis(redis_server: RedisServer) -> None:
    assert await round_trip(redis_server.url + "?key_prefix=blue") == 3
    assert await round_trip(redis_server.url + "?key_prefix=green") == 3
    assert await round_trip(redis_server.url) == 3
    keys = [
        key.encode() if isinstance(key, str) else key for key in redis_server.client().keys("*")
    ]
    assert {key.split(b":")[0] for key in keys} == {b"{blue}", b"{green}", b"{execstream}"}


async def test_heartbeats_racing_commits_never_look_like_lost_data(
    redis_server: RedisServer,
) -> None:
    """A heartbeat reply that left Redis before this replica's newest commit is not a loss."""
    reports = 400

    async def sidecar(store: RedisStore, name: str) -> None:
        events = task_events(name, reports - 2)
        for ev in events:  # one event per report: as many commits as possible
            await store.append(name, [ev])

    store = RedisStore(redis_server.url, pricer=FlatPricer(), heartbeat_s=0.0)
    await store.open()
    try:
        await asyncio.gather(*(sidecar(store, f"sc{i}") for i in range(4)))
        delivered = 0
        async for batch in store.batches():
            delivered = batch.last_revision
            if delivered == 4 * reports:
                break
    finally:
        await store.close()


def test_a_redis_that_lost_acknowledged_events_is_refused_not_reused(tmp_path: Path) -> None:
    # No AOF, no snapshots: a restart empties Redis, as a misconfigured one would.
    server = RedisServer(tmp_path / "redis", "--appendonly", "no").start()

    async def append_once_redis_answers(store: RedisStore) -> None:
        """Append; retry only while the reset connections fail (not on what Redis says)."""
        while True:
            try:
                await store.append("sc", task_events("b", 1))
                return
            except StoreUnavailableError as exc:
                if "lost" in str(exc):
                    raise
                await asyncio.sleep(0.01)

    async def drain(store: RedisStore) -> None:
        async for _ in store.batches():
            pass

    async def body() -> None:
        store = RedisStore(server.url, pricer=FlatPricer(), heartbeat_s=0.01)
        await store.open()
        try:
            await store.append("sc", task_events("a", 3))
            server.restart()
            with pytest.raises(StoreUnavailableError, match="lost acknowledged data"):
                await append_once_redis_answers(store)
            with pytest.raises(StoreUnavailableError, match="lost acknowledged data"):
                await drain(store)
        finally:
            await store.close()

    try:
        asyncio.run(body())
        client = server.client()
        assert client.xlen("{execstream}:log") == 0, "nothing was written over the lost revisions"
        client.close()
    finally:
        server.kill()


def test_a_replica_opening_while_redis_loads_its_aof_waits_for_it(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        asyncio.run(round_trip(server.url))
        client = server.client()
        for i in range(100):  # about 2 MB to load, so Redis answers LOADING while it does
            client.set(f"filler:{i}", "x" * 20_000)
        client.bgrewriteaof()  # the AOF's base becomes an RDB file, which loads key by key
        wait_for(lambda: not client.info("persistence")["aof_rewrite_in_progress"])
        client.close()
        server.kill()
        # Redis's own test knobs: sleep 10 ms per key while loading, answer clients meanwhile.
        server.extra += [
            "--key-load-delay", "10000",
            "--loading-process-events-interval-bytes", "1024",
        ]  # fmt: skip
        server.start(wait=False)

        def loading() -> bool:
            probe = server.client()
            try:
                probe.get("probe")  # PING is answered even while loading
            except redis.BusyLoadingError:
                return True
            except redis.ConnectionError:
                return False  # not listening yet
            finally:
                probe.close()
            raise AssertionError("Redis finished loading before the store opened")

        wait_for(loading)

        async def reopen() -> int:
            store = RedisStore(server.url, pricer=FlatPricer())
            recovery = await store.open()
            await store.close()
            return recovery.revision

        assert asyncio.run(reopen()) == 3
    finally:
        server.kill()


async def test_a_log_of_an_earlier_layout_is_refused_in_one_line(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set("{old}:revision", 3)  # what the layout with one entry per event leaves
    client.xadd("{old}:log", {"task_id": "a", "payload": b"\x0a\x01a"}, id="1-0")
    store = RedisStore(redis_server.url + "?key_prefix=old", pricer=FlatPricer())
    with pytest.raises(StoreUnavailableError) as refused:
        await store.open()
    await store.close()
    message = str(refused.value)
    assert "one stream entry per event" in message and "Upgrading a Redis log" in message
    assert "\n" not in message
    assert client.hlen("{old}:replicas") == 0  # nothing registered, nothing written
    assert client.get("{old}:format") is None


def _calls(server: RedisServer, command: str) -> int:
    """How many times Redis ran ``command`` (INFO commandstats), scripts' calls included."""
    stats = redis.Redis.from_url(server.url).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_a_resend_of_many_old_seqs_walks_the_task_index_once(
    redis_server: RedisServer,
) -> None:
    """A sidecar replaying its log from seq 1 must not cost one index walk per seq: the
    commit path is serial, so that would stall every other sidecar's acknowledgements."""
    store = RedisStore(redis_server.url, pricer=FlatPricer())
    await store.open()
    try:
        await store.append("sc", [event("long", 1, "started")])
        for seq in range(2, 1502):  # 1,501 commits: 1,501 entries in the task's index
            await store.append("sc", [event("long", seq, "stdout", text=f"line {seq}")])
        before = _calls(redis_server, "zrevrangebyscore")
        resend = [event("long", seq, "stdout", text=f"line {seq}") for seq in range(2, 1502)]
        result = await store.append("sc", resend)
        walks = _calls(redis_server, "zrevrangebyscore") - before
        with pytest.raises(SeqConflictError):
            await store.append("sc", [event("long", 700, "stdout", text="changed")])
    finally:
        await store.close()
    assert (result.accepted, result.duplicates) == (0, 1500)
    assert walks <= 2  # 1,501 entries in pages of 1,024 (one walk per seq was 1,500+)


async def test_a_running_tasks_index_is_trimmed_with_the_log(redis_server: RedisServer) -> None:
    """Retention bounds a task's index too, not only the log, when the task never ends."""
    store = RedisStore(redis_server.url, pricer=FlatPricer())
    await store.open()
    try:
        await store.append("sc", [event("run", 1, "started")])
        for seq in range(2, 201):
            await store.append("sc", [event("run", seq, "stdout")])
        await store.checkpoint([], 200)
        await store.compact(Retention(max_events=10))
        await store.append("sc", [event("run", 201, "stdout")])
        entries = redis.Redis.from_url(redis_server.url).zcard(store.keys.task_index("run"))
    finally:
        await store.close()
    assert entries <= 11  # the retained commits' entries, not 201
