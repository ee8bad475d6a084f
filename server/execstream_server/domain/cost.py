"""Cost arithmetic on exact integers (nano-USD): adding priced chunks of usage.

A task's cost is the sum of each usage chunk it reported (failed attempts included), each
priced when it was admitted; ``Pricer`` turns one chunk into a TaskCost. Pure functions only.
"""

from __future__ import annotations

from typing import Protocol

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

_BUCKETS = ("input_nanos", "cache_read_nanos", "cache_write_nanos", "output_nanos", "total_nanos")
_USAGE_COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_one_hour_tokens",
    "output_tokens",
    "reasoning_tokens",
)


class Pricer(Protocol):
    """Prices one chunk of usage; ``backend`` is the task's when the usage names none."""

    def price(self, usage: events_pb.Usage, *, backend: str) -> events_pb.TaskCost: ...


def committed_nanos(state: state_pb.TaskState) -> int:
    """What a task has cost so far, in nano-USD: its settled attempts and its interim."""
    return state.cost.actual.total_nanos + state.interim.cost.actual.total_nanos


def has_tokens(usage: events_pb.Usage) -> bool:
    """True when a usage chunk counts any token (an empty one is not priced)."""
    return any(getattr(usage, name) for name in _USAGE_COUNTS)


def add_usage(total: events_pb.Usage, chunk: events_pb.Usage) -> None:
    """Add ``chunk``'s counts into ``total`` in place (model: the latest non-empty)."""
    for name in _USAGE_COUNTS:
        setattr(total, name, getattr(total, name) + getattr(chunk, name))
    if chunk.estimated:
        total.estimated = True
    if chunk.model:
        total.model = chunk.model
    if chunk.backend:
        total.backend = chunk.backend


def _add_breakdown(total: events_pb.CostBreakdown, part: events_pb.CostBreakdown) -> None:
    for name in _BUCKETS:
        setattr(total, name, getattr(total, name) + getattr(part, name))


def add_cost(total: events_pb.TaskCost, part: events_pb.TaskCost) -> events_pb.TaskCost:
    """Return ``total + part``: amounts add, flags stick, the latest pricing facts win."""
    out = events_pb.TaskCost()
    out.CopyFrom(total)
    _add_breakdown(out.actual, part.actual)
    _add_breakdown(out.reference, part.reference)
    out.savings_nanos = out.reference.total_nanos - out.actual.total_nanos
    out.unpriced = total.unpriced or part.unpriced
    out.estimated = total.estimated or part.estimated
    out.local = (total.local or not total.price_entry) and part.local
    if part.price_entry:
        out.price_entry = part.price_entry
    if part.pricing_version:
        out.pricing_version = part.pricing_version
    if part.reference_model:
        out.reference_model = part.reference_model
    return out
