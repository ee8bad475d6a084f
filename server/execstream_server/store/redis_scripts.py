"""The Redis side of the shared log: key names, the Lua scripts and the wire codec.

Every key of one deployment carries the same hash tag (``{execstream}:...``), so the
scripts and MULTI blocks that touch several keys stay valid on a Redis Cluster too.
The scripts live in ``redis_lua/*.lua``; each documents its KEYS, ARGV and reply.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from execstream.v1 import state_pb2 as state_pb
from redis.asyncio import Redis
from redis.exceptions import RedisError

from execstream_server.domain.admission import Gate, gate_from_state
from execstream_server.domain.errors import StoreUnavailableError
from execstream_server.domain.records import EventRecord


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The keys of one deployment; ``prefix`` lets several share a Redis."""

    revision: str  # string: the last assigned revision
    log: str  # stream: "<revision>-0" -> task_id, sidecar_id, kind, ms, replica, payload
    gate_seqs: str  # hash: task_id -> last accepted seq (what the commit CAS compares)
    gates: str  # hash: task_id -> serialized gate (a TaskState holding the gate's fields)
    checkpoint_revision: str  # string: task_states are the fold through this revision
    task_states: str  # hash: task_id -> serialized TaskState
    compacted_through: str  # string: events at or below it were trimmed
    replicas: str  # hash: replica_id -> the oldest revision it still needs
    replicas_seen: str  # zset: replica_id -> last heartbeat (ms, Redis clock)
    log_id: str  # string: the log's identity, set once when the log is created
    finished: str  # zset: task_id -> the revision of its finished event (digest cleanup)
    digest_prefix: str  # + task_id: string, 8 bytes of content digest per seq

    def digests(self, task_id: str) -> str:
        return self.digest_prefix + task_id

    @classmethod
    def for_prefix(cls, prefix: str) -> RedisKeys:
        tag = "{" + prefix + "}"
        return cls(
            log_id=f"{tag}:log_id",
            finished=f"{tag}:finished",
            digest_prefix=f"{tag}:digests:",
            revision=f"{tag}:revision",
            log=f"{tag}:log",
            gate_seqs=f"{tag}:gate_seqs",
            gates=f"{tag}:gates",
            checkpoint_revision=f"{tag}:checkpoint_revision",
            task_states=f"{tag}:task_states",
            compacted_through=f"{tag}:compacted_through",
            replicas=f"{tag}:replicas",
            replicas_seen=f"{tag}:replicas_seen",
        )


@contextlib.contextmanager
def unavailable_on_redis_error(action: str) -> Iterator[None]:
    """Translate a Redis failure into the domain's UNAVAILABLE, at this one seam."""
    try:
        yield
    except RedisError as exc:
        detail = str(exc) or type(exc).__name__
        raise StoreUnavailableError(f"redis store: {action} failed: {detail}") from exc


# -- codec ---------------------------------------------------------------------------------
def gate_to_bytes(task_id: str, gate: Gate) -> bytes:
    """A gate as a TaskState holding only the gate's fields (``gate_from_state`` reads it)."""
    state = state_pb.TaskState(
        task_id=task_id,
        sidecar_id=gate.owner,
        last_seq=gate.last_seq,
        status=gate.status,  # type: ignore[arg-type]
        backend=gate.backend,
        model=gate.model,
    )
    # gate_from_state sums the usage buckets: one bucket carries the task's running count.
    state.usage.input_tokens = gate.tokens
    if gate.cost is not None:
        state.cost.CopyFrom(gate.cost)
    if gate.interim is not None:
        state.interim.CopyFrom(gate.interim)
    return state.SerializeToString()


def gate_from_bytes(blob: bytes) -> Gate:
    return gate_from_state(state_pb.TaskState.FromString(blob))


def record_from_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> EventRecord:
    """An EventRecord from one log stream entry (its id is ``<revision>-0``)."""
    return EventRecord(
        revision=int(entry_id.partition(b"-")[0]),
        task_id=fields[b"task_id"].decode(),
        sidecar_id=fields[b"sidecar_id"].decode(),
        kind=int(fields[b"kind"]),
        payload=fields[b"payload"],
    )


def stream_id(revision: int) -> str:
    return f"{revision}-0"


# -- scripts -------------------------------------------------------------------------------
def _lua(name: str) -> str:
    return (resources.files(__package__) / "redis_lua" / f"{name}.lua").read_text()


@dataclass(frozen=True, slots=True)
class CommitReply:
    """What ``commit.lua`` answered: revisions, stale gates (``conflicts``) or lost data."""

    first_revision: int = 0
    last_revision: int = 0
    conflicts: dict[str, Gate | None] | None = None
    lost_at: int | None = None


@dataclass(frozen=True, slots=True)
class LogBounds:
    """The shared log's bounds as one script read them together."""

    revision: int
    checkpoint_revision: int
    compacted_through: int


class Scripts:
    """The Lua scripts, registered once per client (redis-py reloads them after NOSCRIPT)."""

    def __init__(self, client: Redis, keys: RedisKeys) -> None:
        self._keys = keys
        self._commit = client.register_script(_lua("commit"))
        self._checkpoint = client.register_script(_lua("checkpoint"))
        self._compact = client.register_script(_lua("compact"))
        self._open = client.register_script(_lua("open"))
        self._heartbeat = client.register_script(_lua("heartbeat"))

    async def commit(
        self,
        known_revision: int,
        replica_id: str,
        args: Sequence[Any],
        digest_keys: Sequence[str],
        digest_args: Sequence[Any],
    ) -> CommitReply:
        """Run ``commit.lua``; ``args`` is its ARGV after known_revision and replica_id."""
        keys = self._keys
        with unavailable_on_redis_error("commit"):
            reply = await self._commit(
                keys=[
                    keys.revision,
                    keys.log,
                    keys.gate_seqs,
                    keys.gates,
                    keys.finished,
                    *digest_keys,
                ],
                args=[known_revision, replica_id, *args, *digest_args],
            )
        tag = reply[0]
        if tag == b"OK":
            return CommitReply(int(reply[1]), int(reply[2]))
        if tag == b"CONFLICT":
            pairs = reply[1:]
            conflicts = {
                pairs[i].decode(): gate_from_bytes(pairs[i + 1]) if pairs[i + 1] else None
                for i in range(0, len(pairs), 2)
            }
            return CommitReply(conflicts=conflicts)
        return CommitReply(lost_at=int(reply[1]))

    async def checkpoint(self, revision: int, states: Sequence[state_pb.TaskState]) -> bool:
        args: list[Any] = [revision]
        for state in states:
            args += [state.task_id, state.SerializeToString()]
        with unavailable_on_redis_error("checkpoint"):
            written = await self._checkpoint(
                keys=[self._keys.checkpoint_revision, self._keys.task_states], args=args
            )
        return bool(written)

    async def compact(
        self,
        *,
        max_events: int,
        cutoff_ms: int,
        replica_ttl_ms: int,
        max_chunk: int,
        replica_id: str,
        cursor: int,
    ) -> tuple[int, int]:
        """One bounded trim; returns (deleted, compacted_through)."""
        keys = self._keys
        with unavailable_on_redis_error("compaction"):
            deleted, compacted = await self._compact(
                keys=[
                    keys.revision,
                    keys.log,
                    keys.checkpoint_revision,
                    keys.compacted_through,
                    keys.replicas,
                    keys.replicas_seen,
                ],
                args=[max_events, cutoff_ms, replica_ttl_ms, max_chunk, replica_id, cursor],
            )
        return int(deleted), int(compacted)

    async def open(self, replica_id: str) -> tuple[LogBounds, list[state_pb.TaskState], str]:
        keys = self._keys
        with unavailable_on_redis_error("open"):
            revision, checkpoint, compacted, flat, log_id = await self._open(
                keys=[
                    keys.revision,
                    keys.checkpoint_revision,
                    keys.compacted_through,
                    keys.task_states,
                    keys.replicas,
                    keys.replicas_seen,
                    keys.log_id,
                ],
                args=[replica_id, str(uuid.uuid4())],
            )
        states = [state_pb.TaskState.FromString(flat[i]) for i in range(1, len(flat), 2)]
        bounds = LogBounds(int(revision), int(checkpoint), int(compacted))
        return bounds, states, log_id.decode()

    async def heartbeat(self, client: Redis, replica_id: str, cursor: int) -> LogBounds:
        """Register ``cursor`` for this replica, over ``client`` (the reader's connection)."""
        keys = self._keys
        revision, checkpoint, compacted = await self._heartbeat(
            keys=[
                keys.revision,
                keys.checkpoint_revision,
                keys.compacted_through,
                keys.replicas,
                keys.replicas_seen,
            ],
            args=[replica_id, cursor],
            client=client,
        )
        return LogBounds(int(revision), int(checkpoint), int(compacted))
