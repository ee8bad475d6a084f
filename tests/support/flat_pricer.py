"""A tiny fixed price list for store tests: every token bucket has a known nano-USD price."""

from __future__ import annotations

from execstream.v1 import events_pb2 as events_pb
from execstream_server.domain.cost import has_tokens

INPUT_NANOS = 3
OUTPUT_NANOS = 15


class FlatPricer:
    """Input tokens cost 3 nano-USD each, output tokens 15; nothing else is priced."""

    def price(self, usage: events_pb.Usage, *, backend: str) -> events_pb.TaskCost:
        cost = events_pb.TaskCost(price_entry=f"flat:{backend}")
        cost.actual.input_nanos = usage.input_tokens * INPUT_NANOS
        cost.actual.output_nanos = usage.output_tokens * OUTPUT_NANOS
        cost.actual.total_nanos = cost.actual.input_nanos + cost.actual.output_nanos
        return cost


class UnpricedPricer:
    """Marks every chunk unpriced: the safe stand-in when no price table is loaded."""

    def price(self, usage: events_pb.Usage, *, backend: str) -> events_pb.TaskCost:
        return events_pb.TaskCost(unpriced=has_tokens(usage), estimated=usage.estimated)
