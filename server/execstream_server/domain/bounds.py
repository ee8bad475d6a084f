"""Numeric and size bounds: what admission refuses so nothing after it can fail.

An accepted event goes through the fold, pricing, the totals, the metrics, the snapshot and
JSON rendering; each step has fields of fixed width (int64 nano-USD, uint64 tokens) or a
fixed range (RFC 3339 times). These checks refuse, before anything is stored, every value
that would make one of those steps raise, with the field's path and the bound:

- every token count of a Usage is at most ``MAX_TOKENS``, and so is a task's sum over all
  buckets and attempts (``task_tokens_violation``, checked against the task's gate); with
  prices at most ``MAX_USD_PER_MTOK`` a task's cost stays below 2**62 nano-USD;
- a Usage that still sets field 9 (once ``cache_write_1h_tokens``) is refused rather than
  its tokens silently dropped;
- times lie in 0001-01-01..9999-12-31 with nanos in 0..999,999,999;
- each event, unknown fields dropped, is at most ``--max-event-bytes`` encoded.

Sums over many tasks (the totals) cannot be bounded this way: ``saturating`` clamps them.
"""

from __future__ import annotations

from execstream.v1 import events_pb2 as events_pb
from google.protobuf import timestamp_pb2, unknown_fields

from execstream_server.config import (
    MAX_TIMESTAMP_SECONDS,
    MAX_TOKENS,
    MIN_TIMESTAMP_SECONDS,
)
from execstream_server.domain.errors import FieldViolation

TOKEN_FIELDS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_one_hour_tokens",
    "output_tokens",
    "reasoning_tokens",
)
# The buckets a task is billed for (reasoning tokens are part of output, not added again).
BILLED_FIELDS = TOKEN_FIELDS[:5]
# Usage field 9 was cache_write_1h_tokens; it is reserved in the proto.
_RETIRED_CACHE_WRITE_1H = 9
MAX_NANOS = 999_999_999
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1


def usage_tokens(usage: events_pb.Usage) -> int:
    """Every billed token of a chunk: the quantity bounded per task."""
    return (
        usage.input_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
        + usage.cache_write_one_hour_tokens
        + usage.output_tokens
    )


def check_token_counts(usage: events_pb.Usage, field: str, out: list[FieldViolation]) -> None:
    """Each count at most MAX_TOKENS; field 9 refused, naming its replacement."""
    for name in TOKEN_FIELDS:
        count = getattr(usage, name)
        if count > MAX_TOKENS:
            out.append(
                FieldViolation(
                    f"{field}.{name}",
                    f"is {count}; the limit is {MAX_TOKENS} (2^40) tokens",
                    MAX_TOKENS,
                )
            )
    unknown = unknown_fields.UnknownFieldSet(usage)
    if any(unknown[i].field_number == _RETIRED_CACHE_WRITE_1H for i in range(len(unknown))):
        out.append(
            FieldViolation(
                f"{field}.cache_write_one_hour_tokens",
                "field 9 (the retired cache_write_1h_tokens) is set: send 1-hour cache "
                "writes as cache_write_one_hour_tokens (field 10); regenerate the stubs",
            )
        )


def task_tokens_violation(field: str, task_id: str, total: int) -> FieldViolation | None:
    """A violation when a chunk would bring its task's billed tokens above MAX_TOKENS."""
    if total <= MAX_TOKENS:
        return None
    return FieldViolation(
        field,
        f"brings task {task_id!r} to {total} tokens over all buckets and attempts; the limit "
        f"per task is {MAX_TOKENS} (2^40)",
        MAX_TOKENS,
    )


def check_timestamp(time: timestamp_pb2.Timestamp, field: str, out: list[FieldViolation]) -> None:
    """RFC 3339's range, which protobuf's JSON mapping (and every client) can render."""
    if not MIN_TIMESTAMP_SECONDS <= time.seconds <= MAX_TIMESTAMP_SECONDS:
        out.append(
            FieldViolation(
                f"{field}.seconds",
                f"is {time.seconds}; times must lie in 0001-01-01..9999-12-31 "
                f"({MIN_TIMESTAMP_SECONDS}..{MAX_TIMESTAMP_SECONDS})",
                MAX_TIMESTAMP_SECONDS,
            )
        )
    if not 0 <= time.nanos <= MAX_NANOS:
        out.append(
            FieldViolation(f"{field}.nanos", f"is {time.nanos}; must be 0..{MAX_NANOS}", MAX_NANOS)
        )


def event_size_violation(
    event: events_pb.ExecutionEvent, field: str, limit: int
) -> FieldViolation | None:
    """A violation when an event (unknown fields already dropped) encodes above ``limit``."""
    size = event.ByteSize()
    if size <= limit:
        return None
    return FieldViolation(
        field, f"is {size} bytes encoded; the limit is {limit} (--max-event-bytes)", limit
    )


def saturating(value: int, low: int, high: int) -> int:
    """``value`` clamped to [low, high]: totals over unboundedly many tasks stop at the top."""
    return low if value < low else high if value > high else value
