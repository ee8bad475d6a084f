"""The live cost meter's one rule: what an event does to a task's pending usage update.

A running task may report its current attempt's usage so far (``usage`` events, cumulative).
The latest one is the task's *interim*: its cost shows and budgets count it, but it is not
part of the task's settled usage and cost. Admission (which prices) and the fold (which
sums usage) both ask ``effect`` what an event does to it, so they can never disagree:

- ``REPLACE``: the attempt's final figure arrives (or a newer update of the same attempt):
  drop the interim, the new figure stands in its place;
- ``SETTLE``: the attempt ended without a final figure, or a later attempt reports: the
  interim becomes the attempt's figure (it moves into settled usage and cost);
- ``KEEP``: the event does not touch it.

Only non-output events are asked: output never changes cost.
"""

from __future__ import annotations

from enum import Enum

from execstream.v1 import events_pb2 as events_pb

from execstream_server.domain.cost import has_tokens


class Effect(Enum):
    KEEP = "keep"
    REPLACE = "replace"
    SETTLE = "settle"


def effect(interim_attempt: int, event: events_pb.ExecutionEvent, body: str | None) -> Effect:
    """What ``event`` does to a pending interim of attempt ``interim_attempt`` (0: none)."""
    if not interim_attempt:
        return Effect.KEEP
    attempt = event.attempt or 1
    if body == "usage":
        return Effect.REPLACE if attempt == interim_attempt else Effect.SETTLE
    if body == "finished":
        final = has_tokens(event.finished.usage) and attempt == interim_attempt
        return Effect.REPLACE if final else Effect.SETTLE
    if body == "status" and event.status.status == events_pb.TASK_STATUS_RETRYING:
        status = event.status
        final = status.HasField("usage") and has_tokens(status.usage)
        return Effect.REPLACE if final and attempt == interim_attempt else Effect.SETTLE
    if body == "error" and event.error.HasField("usage") and has_tokens(event.error.usage):
        failed = event.error.attempt or attempt
        return Effect.REPLACE if failed == interim_attempt else Effect.KEEP
    return Effect.KEEP
