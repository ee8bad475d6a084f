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
from execstream_server.domain.records import ReportFrame
from execstream_server.domain.report_keys import decode as decode_keys

LOG_FORMAT = "frames-1"  # one stream entry per report frame (set when a log is created)


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The keys of one deployment; ``prefix`` lets several share a Redis."""

    revision: str  # string: the last assigned revision
    log: str  # stream: "<last revision>-0" -> first, sidecar_id, keys, ms, replica, frame
    gate_seqs: str  # hash: task_id -> last accepted seq (what the commit CAS compares)
    gates: str  # hash: task_id -> serialized gate (a TaskState holding the gate's fields)
    checkpoint_revision: str  # string: the newest revision a checkpoint link folds through
    checkpoint_links: str  # hash: "<n>:b" (base) or "<n>:d" (delta) -> checkpoint blob
    checkpoint_counter: str  # string: the last link number given out
    checkpoint_sizes: str  # hash: base, delta -> bytes in the chain
    compacted_through: str  # string: events at or below it were trimmed
    replicas: str  # hash: replica_id -> the oldest revision it still needs
    replicas_seen: str  # zset: replica_id -> last heartbeat (ms, Redis clock)
    log_id: str  # string: the log's identity, set once when the log is created
    log_format: str  # string: LOG_FORMAT, set once when the log is created
    finished: str  # zset: task_id -> the revision of its finished event (index cleanup)
    index_prefix: str  # + task_id: zset, per commit "<first revision>:<first seq>" by last
    claim_prefix: str  # + a job's name: string, the replica that runs it (expires)

    def task_index(self, task_id: str) -> str:
        return self.index_prefix + task_id

    @classmethod
    def for_prefix(cls, prefix: str) -> RedisKeys:
        tag = "{" + prefix + "}"
        return cls(
            log_id=f"{tag}:log_id",
            log_format=f"{tag}:format",
            finished=f"{tag}:finished",
            index_prefix=f"{tag}:task_index:",
            claim_prefix=f"{tag}:claim:",
            revision=f"{tag}:revision",
            log=f"{tag}:log",
            gate_seqs=f"{tag}:gate_seqs",
            gates=f"{tag}:gates",
            checkpoint_revision=f"{tag}:checkpoint_revision",
            checkpoint_links=f"{tag}:checkpoint_links",
            checkpoint_counter=f"{tag}:checkpoint_counter",
            checkpoint_sizes=f"{tag}:checkpoint_sizes",
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


def describe_old_log(keys: RedisKeys, log_format: str) -> str:
    """The one line refusing a log this version cannot read."""
    if log_format:
        return (
            f"redis store {keys.log}: the log's format is {log_format!r}, not {LOG_FORMAT!r}: "
            "written by a newer execstream; run that version"
        )
    return (
        f"redis store {keys.log}: written with one stream entry per event by an earlier "
        "execstream, which this version does not read; see 'Upgrading a Redis log' in "
        "docs/operations.md"
    )


def link_of(name: Any, blob: Any) -> tuple[int, bytes, bool]:
    """A checkpoint link from its hash field (``<n>:b`` or ``<n>:d``): (n, blob, is_base)."""
    number, _, kind = bytes(name).partition(b":")
    return int(number), bytes(blob), kind == b"b"


def frame_from_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> ReportFrame:
    """A ReportFrame from one log stream entry (its id is ``<last revision>-0``)."""
    return ReportFrame(
        int(fields[b"first"]),
        decode_keys(fields[b"sidecar_id"].decode(), fields[b"keys"]),
        fields[b"frame"],
        int(fields.get(b"ms", b"0")),
    )


def entry_revision(entry_id: bytes) -> int:
    """The last revision of the frame an entry holds."""
    return int(entry_id.partition(b"-")[0])


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
    committed_ms: int = 0  # Redis's clock when it appended the entries
    conflicts: dict[str, Gate | None] | None = None
    lost_at: int | None = None


@dataclass(frozen=True, slots=True)
class ChainSizes:
    """The checkpoint chain's bytes: its base and the deltas after it."""

    base: int
    delta: int


@dataclass(frozen=True, slots=True)
class LogBounds:
    """The shared log's bounds as one script read them together."""

    revision: int
    checkpoint_revision: int
    compacted_through: int


@dataclass(frozen=True, slots=True)
class Opened:
    """What ``open.lua`` read: bounds, checkpoint links (number, blob, is_base), identity."""

    bounds: LogBounds
    links: list[tuple[int, bytes, bool]]
    log_id: str
    log_format: str


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
        chunk_keys: Sequence[str],
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
                    keys.compacted_through,
                    *chunk_keys,
                ],
                args=[known_revision, replica_id, *args],
            )
        tag = reply[0]
        if tag == b"OK":
            return CommitReply(int(reply[1]), int(reply[2]), int(reply[3]))
        if tag == b"CONFLICT":
            pairs = reply[1:]
            conflicts = {
                pairs[i].decode(): gate_from_bytes(pairs[i + 1]) if pairs[i + 1] else None
                for i in range(0, len(pairs), 2)
            }
            return CommitReply(conflicts=conflicts)
        return CommitReply(lost_at=int(reply[1]))

    async def checkpoint(self, revision: int, blob: bytes, through_link: int = 0) -> ChainSizes:
        """Add a delta link, or (``through_link`` > 0) a base merged from links up to it."""
        keys = self._keys
        with unavailable_on_redis_error("checkpoint"):
            base, delta = await self._checkpoint(
                keys=[
                    keys.checkpoint_revision,
                    keys.checkpoint_links,
                    keys.checkpoint_counter,
                    keys.checkpoint_sizes,
                ],
                args=[revision, blob, through_link],
            )
        return ChainSizes(int(base), int(delta))

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

    async def open(self, replica_id: str) -> Opened:
        keys = self._keys
        with unavailable_on_redis_error("open"):
            revision, checkpoint, compacted, flat, log_id, log_format = await self._open(
                keys=[
                    keys.revision,
                    keys.checkpoint_revision,
                    keys.compacted_through,
                    keys.checkpoint_links,
                    keys.replicas,
                    keys.replicas_seen,
                    keys.log_id,
                    keys.log_format,
                ],
                args=[replica_id, str(uuid.uuid4()), LOG_FORMAT],
            )
        links = sorted(link_of(flat[i], flat[i + 1]) for i in range(0, len(flat), 2))
        bounds = LogBounds(int(revision), int(checkpoint), int(compacted))
        return Opened(bounds, links, log_id.decode(), log_format.decode())

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
