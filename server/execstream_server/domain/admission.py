"""Admission: decide, per ProgressReport, which events are new, duplicate or refused.

Each store keeps a ``Gate`` per task: the few facts admission needs (owner, last seq,
status, backend, cost so far). ``admit`` reads the gates and changes none: it returns the
events to store (stamped with sidecar_id, time and, on ``finished``, the task's total cost)
and the gates after them, or raises for the whole report. A report is all-or-nothing, so a
refused message leaves nothing half-written.

A resent seq is a duplicate only if its content is the committed event's: a duplicate's
``content_digest`` is compared with the committed event's (``digest_of``). The stores fetch
committed digests only for the duplicates admission reports as ``unchecked``, then admit
again, so the common path never reads them, and no digest is computed for an event until
a resend asks for it.

Admission stamps the report's events in place (no copy per event): the report is the
server's own decoded message, and the stamps (sidecar_id, attempt, time, server-priced
costs) are set identically on a second pass, so admitting a report again (after fetching
digests) gives the same result. A refused report is dropped whole, stamps and all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from execstream.v1 import events_pb2 as events_pb
from execstream.v1.state_pb2 import InterimUsage, TaskState
from google.protobuf import timestamp_pb2

from execstream_server.domain.bounds import task_tokens_violation, usage_tokens
from execstream_server.domain.cost import Pricer, add_cost, has_tokens
from execstream_server.domain.digests import UNKNOWN_DIGEST, SeqKey, content_digest
from execstream_server.domain.errors import (
    FieldViolation,
    IllegalTransitionError,
    InternalError,
    InvalidArgumentError,
    OwnershipError,
    SeqConflictError,
    SeqGapError,
    TaskFinishedError,
)
from execstream_server.domain.events import OUTPUT_BODIES, SERVER_AUTHOR
from execstream_server.domain.interim import Effect, effect
from execstream_server.domain.lifecycle import PENDING, RUNNING, is_terminal, next_status

log = logging.getLogger(__name__)


class Gate(NamedTuple):
    """What admission knows of one task (a tuple: built once per admitted event, cheaply)."""

    owner: str
    last_seq: int
    status: int
    backend: str = ""
    cost: events_pb.TaskCost | None = None
    model: str = ""
    tokens: int = 0  # billed tokens so far, all buckets and attempts (bounds.MAX_TOKENS)
    # The running attempt's latest usage update, priced (see ``interim``); not in ``cost``.
    interim: InterimUsage | None = None


@dataclass(slots=True)
class Admission:
    """The outcome of admitting one report.

    ``unchecked`` are the duplicates whose committed digest ``digest_of`` did not know yet
    (fetch, admit again).
    """

    accepted: list[events_pb.ExecutionEvent] = field(default_factory=list)
    duplicates: int = 0
    gates: dict[str, Gate] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    unchecked: set[SeqKey] = field(default_factory=set)


DigestLookup = Callable[[str, int], bytes | None]


def _no_digests(task_id: str, seq: int) -> bytes | None:
    return None


def _chunk_usage(event: events_pb.ExecutionEvent, body: str | None) -> events_pb.Usage | None:
    if body == "status" and event.status.HasField("usage"):
        return event.status.usage
    if body == "error" and event.error.HasField("usage"):
        return event.error.usage
    if body == "finished":
        return event.finished.usage
    return None


def _stamped_cost(
    event: events_pb.ExecutionEvent, body: str | None, cost: events_pb.TaskCost | None
) -> events_pb.TaskCost | None:
    """Recovery path: the cost after an event whose prices were stamped at admission."""
    if body == "finished" and event.finished.HasField("cost"):
        return event.finished.cost
    if body in ("status", "error"):
        holder = getattr(event, body)
        if holder.HasField("cost"):
            return holder.cost if cost is None else add_cost(cost, holder.cost)
    return cost


def gate_from_state(state: TaskState) -> Gate:
    """Rebuild a gate from a checkpointed task state."""
    return Gate(
        owner=state.sidecar_id,
        last_seq=state.last_seq,
        status=state.status,
        backend=state.backend,
        model=state.model,
        cost=state.cost if state.HasField("cost") else None,
        tokens=usage_tokens(state.usage),
        interim=state.interim if state.HasField("interim") else None,
    )


def _named(usage: events_pb.Usage, model: str) -> events_pb.Usage:
    """A chunk that names no model was billed on the task's model (see Usage.model)."""
    if usage.model or not model:
        return usage
    named = events_pb.Usage(model=model)
    named.MergeFrom(usage)
    return named


def _settled(
    gate: Gate | None, event: events_pb.ExecutionEvent, body: str | None
) -> tuple[events_pb.TaskCost | None, int, InterimUsage | None]:
    """The gate's settled cost and tokens, and its interim, once ``event`` acted on it."""
    cost = gate.cost if gate else None
    tokens = gate.tokens if gate else 0
    interim = gate.interim if gate else None
    change = effect(interim.attempt if interim else 0, event, body)
    if interim is not None and change is Effect.SETTLE:
        cost = interim.cost if cost is None else add_cost(cost, interim.cost)
        tokens += usage_tokens(interim.usage)
    return cost, tokens, interim if change is Effect.KEEP else None


def _update_interim(
    event: events_pb.ExecutionEvent,
    cost: events_pb.TaskCost | None,
    pricer: Pricer | None,
    model: str,
    backend: str,
) -> InterimUsage:
    """Price a usage update (stamping it) or, in recovery, read its stamped price."""
    update = event.usage
    if pricer is not None:
        usage = _named(update.usage, model)
        update.cost.CopyFrom(pricer.price(usage, backend=usage.backend or backend))
        update.task_cost.CopyFrom(update.cost if cost is None else add_cost(cost, update.cost))
    return InterimUsage(attempt=event.attempt or 1, usage=update.usage, cost=update.cost)


def advance_gate(gate: Gate | None, event: events_pb.ExecutionEvent, pricer: Pricer | None) -> Gate:
    """Return the gate after an admitted event (used by admission and by recovery).

    With a pricer, usage chunks are priced and added to the running cost; the ``finished``
    event is stamped with the total. Recovery passes ``None``: it reads costs already stamped.
    """
    task_id = event.task_id
    body = event.WhichOneof("body")
    current = gate.status if gate else PENDING
    status = next_status(task_id, current, event)
    backend = gate.backend if gate else ""
    model = gate.model if gate else ""
    if body == "started":
        backend = event.started.backend or backend
        model = event.started.model or model
    cost, tokens, interim = _settled(gate, event, body)
    if body == "usage":
        interim = _update_interim(event, cost, pricer, model, backend)
    usage = _chunk_usage(event, body)
    if usage is not None:
        tokens += usage_tokens(usage)
    if pricer is not None and usage is not None and (has_tokens(usage) or body == "finished"):
        usage = _named(usage, model)
        chunk = pricer.price(usage, backend=usage.backend or backend)
        cost = chunk if cost is None else add_cost(cost, chunk)
        if body == "finished":
            event.finished.cost.CopyFrom(cost)
        elif body == "status":
            event.status.cost.CopyFrom(chunk)
        elif body == "error":
            event.error.cost.CopyFrom(chunk)
    elif pricer is None:
        cost = _stamped_cost(event, body, cost)
    owner = gate.owner if gate else event.sidecar_id
    return Gate(
        owner=owner,
        last_seq=event.seq,
        status=status,
        backend=backend,
        cost=cost,
        model=model,
        tokens=tokens,
        interim=interim,
    )


def _clear_server_fields(event: events_pb.ExecutionEvent) -> None:
    body = event.WhichOneof("body")
    if body == "finished":
        event.finished.ClearField("cost")
    elif body == "status":
        event.status.ClearField("cost")
    elif body == "error":
        event.error.ClearField("cost")
    elif body == "usage":
        event.usage.ClearField("cost")
        event.usage.ClearField("task_cost")


def _check_task_tokens(
    gate: Gate | None, event: events_pb.ExecutionEvent, body: str | None, index: int
) -> None:
    """Refuse a usage chunk that would take its task past MAX_TOKENS (see ``bounds``).

    A usage update counts as if it settled: an attempt may end without a final figure.
    """
    usage = event.usage.usage if body == "usage" else _chunk_usage(event, body)
    if usage is None:
        return
    total = _settled(gate, event, body)[1] + usage_tokens(usage)
    violation = task_tokens_violation(f"events[{index}].{body}.usage", event.task_id, total)
    if violation is not None:
        raise InvalidArgumentError([violation])


def _check_update_attempt(gate: Gate | None, event: events_pb.ExecutionEvent, index: int) -> None:
    """Refuse a usage update of an attempt older than the one whose update is pending."""
    interim = gate.interim if gate else None
    if interim is not None and event.attempt < interim.attempt:
        problem = (
            f"a usage update of attempt {event.attempt} after attempt {interim.attempt} "
            "reported its usage"
        )
        raise InvalidArgumentError([FieldViolation(f"events[{index}].attempt", problem)])


def admission_bug(exc: Exception) -> InternalError:
    """Log a bug in admission (it raised something other than a domain error) and wrap it.

    Admission stores nothing itself, so the report it failed on changed no gate and no
    log (its events may carry stamps; the report is dropped whole): that report alone is
    refused (INTERNAL) and every other report goes on.
    """
    log.error("admission failed on a report: %s", exc, exc_info=exc)
    return InternalError("internal error admitting this report; see the server log")


def _check_duplicate(
    result: Admission,
    own: dict[SeqKey, events_pb.ExecutionEvent],
    digest_of: DigestLookup,
    event: events_pb.ExecutionEvent,
    last_seq: int,
) -> None:
    """Refuse a resent seq whose content differs from the committed (or earlier) one."""
    key = (event.task_id, event.seq)
    earlier = own.get(key)
    committed = content_digest(earlier) if earlier is not None else digest_of(*key)
    if committed is None:
        result.unchecked.add(key)
    elif committed != UNKNOWN_DIGEST and committed != content_digest(event):
        raise SeqConflictError(event.task_id, event.seq, last_seq)


def _stamp(event: events_pb.ExecutionEvent, sidecar_id: str, now: timestamp_pb2.Timestamp) -> None:
    """The server's stamps on an accepted event: its author, attempt 1 for 0, and the
    server's clock when it carries no time (the revision comes at commit)."""
    event.sidecar_id = sidecar_id
    event.revision = 0
    if event.attempt == 0:
        event.attempt = 1
    if not event.HasField("time"):
        event.time.CopyFrom(now)


def _admit_server_events(
    events: Sequence[events_pb.ExecutionEvent], now: timestamp_pb2.Timestamp
) -> Admission:
    """Events the server writes into tasks' streams (``budget``): outside the seq space.

    They carry seq 0 and their task's owner as sidecar_id (set by the caller), touch no
    gate (so a sidecar's seqs, resends and SEQ_CONFLICT checks never see them) and get no
    content digest: only revisions order them.
    """
    result = Admission()
    for event in events:
        stamped = events_pb.ExecutionEvent()
        stamped.CopyFrom(event)
        stamped.seq = 0
        stamped.revision = 0
        if not stamped.HasField("time"):
            stamped.time.CopyFrom(now)
        result.accepted.append(stamped)
    return result


def admit(
    sidecar_id: str,
    events: Sequence[events_pb.ExecutionEvent],
    lookup: Callable[[str], Gate | None],
    pricer: Pricer,
    now: timestamp_pb2.Timestamp,
    digest_of: DigestLookup = _no_digests,
) -> Admission:
    """Admit one report's events in order; raise a domain error and admit none on refusal.

    ``digest_of(task_id, seq)`` is the committed content digest of a seq at or below the
    gate's last_seq: bytes, UNKNOWN_DIGEST, or None when not fetched yet. The server's own
    events come with ``sidecar_id`` SERVER_AUTHOR (see ``_admit_server_events``).
    """
    if sidecar_id == SERVER_AUTHOR:
        return _admit_server_events(events, now)
    result = Admission()
    gates = result.gates
    last_seqs = result.last_seq
    accepted = result.accepted
    # This report's accepted events by (task, seq), for resends within it; built only
    # once the report holds a duplicate.
    own: dict[SeqKey, events_pb.ExecutionEvent] | None = None
    for index, event in enumerate(events):
        task_id = event.task_id
        gate = gates.get(task_id) or lookup(task_id)
        seq = event.seq
        if (
            gate is not None
            and gate.status == RUNNING
            and seq == gate.last_seq + 1
            and gate.owner == sidecar_id
            and event.WhichOneof("body") in OUTPUT_BODIES
        ):
            # The common case, by far: the next output of a running task of this sidecar
            # changes only its gate's last seq.
            _stamp(event, sidecar_id, now)
            gates[task_id] = Gate(
                sidecar_id,
                seq,
                RUNNING,
                gate.backend,
                gate.cost,
                gate.model,
                gate.tokens,
                gate.interim,
            )
            last_seqs[task_id] = seq
            accepted.append(event)
            if own is not None:
                own[(task_id, seq)] = event
            continue
        if gate is not None:
            if gate.owner != sidecar_id:
                raise OwnershipError(task_id, sidecar_id)
            if seq <= gate.last_seq:
                if own is None:
                    own = {(e.task_id, e.seq): e for e in accepted}
                _check_duplicate(result, own, digest_of, event, gate.last_seq)
                result.duplicates += 1
                last_seqs[task_id] = gate.last_seq
                continue
            if is_terminal(gate.status):
                raise TaskFinishedError(task_id, seq, gate.last_seq)
            if seq != gate.last_seq + 1:
                raise SeqGapError(task_id, gate.last_seq + 1, seq)
        elif seq != 1:
            raise SeqGapError(task_id, 1, seq)
        _stamp(event, sidecar_id, now)
        body = event.WhichOneof("body")
        _clear_server_fields(event)
        _check_task_tokens(gate, event, body, index)
        if body == "usage":
            _check_update_attempt(gate, event, index)
        try:
            gates[task_id] = advance_gate(gate, event, pricer)
        except IllegalTransitionError as exc:
            exc.last_seq = gate.last_seq if gate is not None else 0
            raise
        last_seqs[task_id] = seq
        accepted.append(event)
        if own is not None:
            own[(task_id, seq)] = event
    return result
