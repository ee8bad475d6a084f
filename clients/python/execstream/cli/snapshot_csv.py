"""``execstream snapshot --csv``: one row per task, for spreadsheets and warehouses.

The columns are a stable, documented set (docs/clients.md, "Per-task cost in a spreadsheet
or a warehouse"): new columns are only ever added at the end. Money comes twice: exact
decimal USD for people and spreadsheets, and the integer nano-USD the service keeps, for
sums that never drift. An unpriced task has empty money cells (its cost is unknown, not
zero) and ``unpriced`` true. Times are RFC 3339 in UTC; an unset one is empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import IO

from google.protobuf.timestamp_pb2 import Timestamp

from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import state_pb2 as state_pb

from ..money import NANOS_PER_USD
from .render import status_name

CsvCell = Callable[[state_pb.TaskState], object]


_MICROSECOND = Decimal("0.000001")


def _time(stamp: Timestamp) -> str:
    """RFC 3339 in UTC to the microsecond, as every SQL engine and spreadsheet reads it."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return stamp.ToDatetime().isoformat(timespec="microseconds") + "Z"


def _duration_s(task: state_pb.TaskState) -> str:
    """Seconds in fixed notation to the microsecond: exactly the difference of the two
    times as written (``0.000250``, never ``2.5E-4``)."""
    start, end = task.started_time, task.finished_time
    if not start.seconds or not end.seconds:
        return ""
    micros = end.ToMicroseconds() - start.ToMicroseconds()
    return format((Decimal(micros) * _MICROSECOND).quantize(_MICROSECOND), "f")


def _usd(nanos: int) -> str:
    return format(Decimal(nanos) / NANOS_PER_USD, "f")


def _money(nanos_of: Callable[[state_pb.TaskState], int], *, usd: bool) -> CsvCell:
    def cell(task: state_pb.TaskState) -> object:
        if task.cost.unpriced:
            return ""
        nanos = nanos_of(task)
        return _usd(nanos) if usd else nanos

    return cell


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _actual(task: state_pb.TaskState) -> int:
    return task.cost.actual.total_nanos


def _reference(task: state_pb.TaskState) -> int:
    return task.cost.reference.total_nanos


def _savings(task: state_pb.TaskState) -> int:
    return task.cost.savings_nanos


COLUMNS: tuple[tuple[str, CsvCell], ...] = (
    ("task_id", lambda t: t.task_id),
    ("sidecar_id", lambda t: t.sidecar_id),
    ("status", lambda t: status_name(t.status)),
    ("backend", lambda t: t.backend),
    ("model", lambda t: t.model),
    ("labels", lambda t: json.dumps(dict(t.labels), sort_keys=True) if t.labels else ""),
    ("created_time", lambda t: _time(t.created_time)),
    ("started_time", lambda t: _time(t.started_time)),
    ("finished_time", lambda t: _time(t.finished_time)),
    ("duration_s", _duration_s),
    ("attempt", lambda t: t.attempt),
    ("exit_code", lambda t: t.exit_code if t.HasField("exit_code") else ""),
    ("input_tokens", lambda t: t.usage.input_tokens),
    ("cache_read_tokens", lambda t: t.usage.cache_read_tokens),
    ("cache_write_tokens", lambda t: t.usage.cache_write_tokens),
    ("cache_write_one_hour_tokens", lambda t: t.usage.cache_write_one_hour_tokens),
    ("output_tokens", lambda t: t.usage.output_tokens),
    ("reasoning_tokens", lambda t: t.usage.reasoning_tokens),
    ("cost_usd", _money(_actual, usd=True)),
    ("reference_cost_usd", _money(_reference, usd=True)),
    ("savings_usd", _money(_savings, usd=True)),
    ("cost_nanos", _money(_actual, usd=False)),
    ("reference_cost_nanos", _money(_reference, usd=False)),
    ("savings_nanos", _money(_savings, usd=False)),
    ("reference_model", lambda t: t.cost.reference_model),
    ("price_entry", lambda t: t.cost.price_entry),
    ("pricing_version", lambda t: t.cost.pricing_version),
    ("unpriced", lambda t: _flag(t.cost.unpriced)),
    ("local", lambda t: _flag(t.cost.local)),
    ("estimated", lambda t: _flag(t.cost.estimated or t.usage.estimated)),
    ("error", lambda t: t.error),
)


def _interim(task: state_pb.TaskState) -> int:
    return task.interim.cost.actual.total_nanos


def _interim_money(*, usd: bool) -> CsvCell:
    """A running task's pending usage update's cost; empty when it has none (or no price)."""
    money = _money(_interim, usd=usd)
    return lambda task: money(task) if task.HasField("interim") else ""


# Then the snapshot's revision: the same for every row of one export, and the point to
# watch from (or to export again after) for an incremental load. Columns added later come
# after it, so a reader that keys on positions keeps working: each task's last revision and
# last seq among them (a row whose last_revision is above the previous export's
# snapshot_revision changed since).
LATER: tuple[tuple[str, CsvCell], ...] = (
    ("interim_cost_usd", _interim_money(usd=True)),
    ("interim_cost_nanos", _interim_money(usd=False)),
    ("last_revision", lambda t: t.last_revision),
    ("last_seq", lambda t: t.last_seq),
)
HEADER = (
    *(name for name, _ in COLUMNS),
    "snapshot_revision",
    *(name for name, _ in LATER),
)


def rows(snapshot: service_pb.Snapshot) -> Iterable[list[object]]:
    for task in snapshot.tasks:
        yield [
            *(cell(task) for _, cell in COLUMNS),
            snapshot.revision,
            *(cell(task) for _, cell in LATER),
        ]


def write_csv(snapshot: service_pb.Snapshot, out: IO[str]) -> None:
    """The header, then one row per task (RFC 4180: commas, quotes where needed, CRLF)."""
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows(snapshot))
