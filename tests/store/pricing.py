"""A tiny fixed price list for store tests: every token bucket has a known nano-USD price."""

from __future__ import annotations

from execstream.v1 import events_pb2 as pb

INPUT_NANOS = 3
OUTPUT_NANOS = 15


class FlatPricer:
    """Input tokens cost 3 nano-USD each, output tokens 15; nothing else is priced."""

    def price(self, usage: pb.Usage, *, backend: str) -> pb.TaskCost:
        cost = pb.TaskCost(price_entry=f"flat:{backend}")
        cost.actual.input_nanos = usage.input_tokens * INPUT_NANOS
        cost.actual.output_nanos = usage.output_tokens * OUTPUT_NANOS
        cost.actual.total_nanos = cost.actual.input_nanos + cost.actual.output_nanos
        return cost
