"""Budgets: amounts of USD that a set of tasks may spend per period, read from a TOML file.

A budget selects tasks by label values, sidecar and model (all optional; none selects every
task) and either sums their committed cost per period (``day`` and ``month`` in UTC, or
``total``) or, with ``per_task``, holds each task to the amount on its own. Cost counts in
the period in which the server committed it (``spend_days``), so the books rebuild exactly
from task states after a restart. An invalid file stops the server at start, naming the key.

    [budgets.research]
    amount_usd = 500
    period = "month"
    labels = { team = "research" }
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from execstream.v1 import state_pb2 as state_pb

from execstream_server.config import MAX_BUDGETS, MAX_TASK_COST_NANOS, ConfigError, Limits

PERIODS = ("day", "month", "total")
THRESHOLDS = (80, 100)  # percent of the amount; crossing each upward is reported
NANOS_PER_USD = 1_000_000_000
MAX_AMOUNT_NANOS = MAX_TASK_COST_NANOS  # so every sum against it stays within int64
DEFAULT_LIMITS = Limits()
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEYS = frozenset({"amount_usd", "period", "labels", "sidecar", "model", "per_task"})


class BudgetFileError(ConfigError):
    """The budgets file is invalid; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class Budget:
    """One budget of the file."""

    name: str
    amount_nanos: int
    period: str = "total"
    labels: Mapping[str, str] = field(default_factory=dict)
    sidecar: str = ""
    model: str = ""
    per_task: bool = False

    @property
    def scope(self) -> str:
        """What the budget is held against: ``task``, or what selects its tasks."""
        if self.per_task:
            return "task"
        used = {"label": self.labels, "sidecar": self.sidecar, "model": self.model}
        return "+".join(name for name, value in used.items() if value) or "all"

    def selects(self, state: state_pb.TaskState) -> bool:
        if self.sidecar and state.sidecar_id != self.sidecar:
            return False
        if self.model and (state.model or state.usage.model) != self.model:
            return False
        labels = state.labels
        return all(labels.get(key) == value for key, value in self.labels.items())

    def period_key(self, on: dt.date) -> int:
        """Which period the UTC day ``on`` falls in: the day's ordinal, a month's index, or 0."""
        if self.period == "day":
            return on.toordinal()
        if self.period == "month":
            return on.year * 12 + on.month - 1
        return 0

    def period_start(self, key: int) -> dt.datetime | None:
        """When the period ``key`` began (UTC); None for ``total``."""
        if self.period == "day":
            return dt.datetime.combine(dt.date.fromordinal(key), dt.time(), dt.UTC)
        if self.period == "month":
            return dt.datetime(key // 12, key % 12 + 1, 1, tzinfo=dt.UTC)
        return None


def level(spent_nanos: int, amount_nanos: int) -> int:
    """The highest threshold (percent) that ``spent`` reached, 0 below the first; exact."""
    reached = 0
    for threshold in THRESHOLDS:
        if spent_nanos * 100 >= threshold * amount_nanos:
            reached = threshold
    return reached


def load_budgets(path: str, *, limits: Limits = DEFAULT_LIMITS) -> tuple[Budget, ...]:
    """Load and validate the budgets file at ``path`` (text bounded by the input ``limits``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BudgetFileError(f"{path}: cannot read the budgets file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BudgetFileError(f"{path}: not valid TOML: {exc}") from None
    return parse_budgets(data, where=path, limits=limits)


def parse_budgets(
    data: Mapping[str, Any], *, where: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[Budget, ...]:
    """The budgets of a parsed TOML document (``[budgets.NAME]`` tables)."""

    def fail(key: str, problem: str) -> BudgetFileError:
        return BudgetFileError(f"{where}: {key}: {problem}")

    unknown = set(data) - {"budgets"}
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key (expected [budgets.NAME] tables)")
    tables = data.get("budgets", {})
    if not isinstance(tables, dict):
        raise fail("budgets", "must be a table of [budgets.NAME] tables")
    if len(tables) > MAX_BUDGETS:
        raise fail("budgets", f"{len(tables)} budgets; at most {MAX_BUDGETS}")
    return tuple(_budget(name, table, fail, limits) for name, table in tables.items())


def _budget(name: str, table: Any, fail: Any, limits: Limits) -> Budget:
    key = f"budgets.{name}"
    if not _NAME.match(name):
        raise fail(key, "a budget's name is 1-64 characters from [A-Za-z0-9._-]")
    if not isinstance(table, dict):
        raise fail(key, "must be a table")
    for item in table:
        if item not in _KEYS:
            expected = ", ".join(sorted(_KEYS))
            raise fail(f"{key}.{item}", f"unknown key (expected one of: {expected})")
    if "amount_usd" not in table:
        raise fail(f"{key}.amount_usd", "missing: every budget needs an amount in USD")
    amount = _amount(table["amount_usd"], f"{key}.amount_usd", fail)
    per_task = table.get("per_task", False)
    if not isinstance(per_task, bool):
        raise fail(f"{key}.per_task", "must be true or false")
    period = table.get("period", "total")
    if period not in PERIODS:
        raise fail(f"{key}.period", f"must be one of {', '.join(PERIODS)}, not {period!r}")
    if per_task and period != "total":
        raise fail(f"{key}.period", "a per_task budget holds each task's whole cost: use total")
    labels = _labels(table.get("labels", {}), f"{key}.labels", fail, limits)
    texts = {}
    for item, bound, flag in (
        ("sidecar", limits.max_id_length, "--max-id-length"),
        ("model", limits.max_name_length, "--max-name-length"),
    ):
        value = table.get(item, "")
        if not isinstance(value, str):
            raise fail(f"{key}.{item}", "must be a string")
        size, unit = (
            (len(value), "characters") if item == "sidecar" else (len(value.encode()), "bytes")
        )
        if size > bound:
            raise fail(f"{key}.{item}", f"{size} {unit}; at most {bound} ({flag})")
        texts[item] = value
    return Budget(name, amount, period, labels, texts["sidecar"], texts["model"], per_task)


def _labels(labels: Any, key: str, fail: Any, limits: Limits) -> dict[str, str]:
    """The labels a budget selects by, bounded as a task's (Started.labels) are.

    A budget needing more labels, or longer ones, than a task may carry could never match.
    """
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in labels.items()
    ):
        raise fail(key, 'must be a table of non-empty strings, e.g. { team = "a" }')
    if len(labels) > limits.max_labels:
        raise fail(key, f"{len(labels)} labels; at most {limits.max_labels} (--max-labels)")
    for name, value in labels.items():
        if len(name) > limits.max_label_key_length:
            bound = limits.max_label_key_length
            raise fail(
                key, f"a key of {len(name)} characters; at most {bound} (--max-label-key-length)"
            )
        if len(value) > limits.max_label_value_length:
            bound = limits.max_label_value_length
            raise fail(
                f"{key}.{name}",
                f"{len(value)} characters; at most {bound} (--max-label-value-length)",
            )
    return dict(labels)


def _amount(value: Any, key: str, fail: Any) -> int:
    """USD as a TOML number or decimal string, exactly in nano-USD."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise fail(key, 'must be a number of USD, e.g. 500 or "12.50"')
    try:
        usd = Decimal(str(value))
    except InvalidOperation:
        raise fail(key, f"{value!r} is not a number of USD") from None
    nanos = usd * NANOS_PER_USD
    if not usd.is_finite() or nanos != nanos.to_integral_value():
        raise fail(key, f"{value!r}: at most 9 decimal places (nano-USD)")
    if not 0 < nanos <= MAX_AMOUNT_NANOS:
        raise fail(key, f"must be above 0 and at most {MAX_AMOUNT_NANOS // NANOS_PER_USD} USD")
    return int(nanos)
