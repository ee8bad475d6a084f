"""The price table: TOML prices per model, exact integer costs, and a reference model.

Prices are written as people read them (USD per million tokens) and turned into exact
nano-USD per chunk of usage with Decimal arithmetic, rounded half-even once per chunk, so a
task's total is a sum of integers and never drifts. An invalid table stops the server at
start: a wrong price silently applied to every task is worse than no server. Prices are
bounded (``MAX_USD_PER_MTOK``) so that, with admission's token bound, no task's cost can
leave the int64 nano-USD fields it is stored in.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from execstream.v1 import events_pb2 as events_pb

from execstream_server.config import MAX_USD_PER_MTOK, ConfigError
from execstream_server.domain.cost import has_tokens

DEFAULT_TABLE = "default_prices.toml"
RATE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_ENTRY_KEYS = frozenset({*RATE_KEYS, "backend", "effective_from", "source", "tiers"})
_TIER_KEYS = frozenset({*RATE_KEYS, "above_prompt_tokens"})
_TOP_KEYS = frozenset({"version", "reference_model", "source", "models", "backends"})
_GLOB_CHARS = re.compile(r"[*?\[]")
_NANOS_PER_USD_PER_MTOK = Decimal(1000)  # 1 USD / 1e6 tokens = 1000 nano-USD per token


class PriceTableError(ConfigError):
    """The price table is invalid; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class Rates:
    """USD per million tokens for each bucket (cache_write is the 5-minute write)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal

    @property
    def free(self) -> bool:
        return not any(getattr(self, key) for key in RATE_KEYS)


@dataclass(frozen=True)
class Tier:
    """Rates for a whole request whose prompt exceeds ``above_prompt_tokens``."""

    above_prompt_tokens: int
    rates: Rates


@dataclass(frozen=True)
class PriceEntry:
    """One row of the table: a model name, a glob, or a backend fallback."""

    key: str
    rates: Rates
    tiers: tuple[Tier, ...]
    backend: str
    effective_from: dt.date
    source: str
    kind: str  # "exact", "glob" or "backend"

    @property
    def label(self) -> str:
        """How TaskCost.price_entry names this row."""
        return f"backend:{self.key}" if self.kind == "backend" else self.key

    @property
    def free(self) -> bool:
        """Every price, tiers included, is zero: the model is local and costs nothing."""
        return self.rates.free and all(tier.rates.free for tier in self.tiers)

    def rates_for(self, usage: events_pb.Usage) -> Rates:
        """The rates for this request: the highest tier whose threshold the prompt exceeds."""
        prompt = prompt_tokens(usage)
        chosen = self.rates
        for tier in self.tiers:  # sorted by threshold
            if prompt > tier.above_prompt_tokens:
                chosen = tier.rates
        return chosen


def prompt_tokens(usage: events_pb.Usage) -> int:
    """Everything the model read: the size long-context tiers are decided on."""
    return (
        usage.input_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
        + usage.cache_write_one_hour_tokens
    )


def _nanos(tokens: int, usd_per_mtok: Decimal) -> int:
    exact = Decimal(tokens) * usd_per_mtok * _NANOS_PER_USD_PER_MTOK
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def cost_breakdown(usage: events_pb.Usage, rates: Rates) -> events_pb.CostBreakdown:
    """Price each bucket apart; reasoning tokens are part of output and not added again."""
    out = events_pb.CostBreakdown(
        input_nanos=_nanos(usage.input_tokens, rates.input),
        cache_read_nanos=_nanos(usage.cache_read_tokens, rates.cache_read),
        cache_write_nanos=_nanos(usage.cache_write_tokens, rates.cache_write)
        + _nanos(usage.cache_write_one_hour_tokens, rates.cache_write_1h),
        output_nanos=_nanos(usage.output_tokens, rates.output),
    )
    out.total_nanos = out.input_nanos + out.cache_read_nanos + out.cache_write_nanos
    out.total_nanos += out.output_nanos
    return out


def find_entry(
    exact: Mapping[str, PriceEntry],
    globs: tuple[PriceEntry, ...],
    backends: Mapping[str, PriceEntry],
    model: str,
    backend: str,
) -> PriceEntry | None:
    """Exact model name, then the most specific glob, then the backend; else None."""
    if model:
        if model in exact:
            return exact[model]
        for entry in globs:
            if fnmatch.fnmatchcase(model, entry.key):
                return entry
    return backends.get(backend)


@dataclass(frozen=True)
class PriceTable:
    """A loaded, validated table; implements the ``Pricer`` protocol."""

    path: str
    version: str
    reference_model: str
    source: str
    exact: Mapping[str, PriceEntry]
    globs: tuple[PriceEntry, ...]  # most specific first
    backends: Mapping[str, PriceEntry]
    reference: PriceEntry

    def entries(self) -> Iterator[PriceEntry]:
        yield from self.exact.values()
        yield from self.globs
        yield from self.backends.values()

    def lookup(self, model: str, backend: str) -> PriceEntry | None:
        return find_entry(self.exact, self.globs, self.backends, model, backend)

    def price(self, usage: events_pb.Usage, *, backend: str) -> events_pb.TaskCost:
        """Price one chunk, and price it again on the reference model.

        An unpriced chunk gets no reference cost either: claiming savings on tokens whose
        real cost is unknown would be a made-up number.
        """
        backend = usage.backend or backend
        cost = events_pb.TaskCost(
            pricing_version=self.version,
            reference_model=self.reference_model,
            estimated=usage.estimated,
        )
        entry = self.lookup(usage.model, backend)
        if entry is None:
            cost.unpriced = has_tokens(usage)
            return cost
        cost.price_entry = entry.label
        cost.local = entry.free
        cost.actual.CopyFrom(cost_breakdown(usage, entry.rates_for(usage)))
        cost.reference.CopyFrom(cost_breakdown(usage, self.reference.rates_for(usage)))
        cost.savings_nanos = cost.reference.total_nanos - cost.actual.total_nanos
        return cost

    def known_labels(self) -> list[tuple[str, str]]:
        """(backend, model) pairs exported at 0 from the start, so increase() sees task one."""
        return sorted({(e.backend, e.key) for e in self.exact.values() if e.backend})


def default_table_text() -> str:
    """The TOML shipped inside the package (what ``execstream pricing --toml`` prints)."""
    return resources.files(__package__).joinpath(DEFAULT_TABLE).read_text(encoding="utf-8")


def load_price_table(path: str | None = None) -> PriceTable:
    """Load and validate ``path``, or the packaged default table when None."""
    if path:
        where = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceTableError(f"{path}: cannot read the price table: {exc.strerror}") from None
    else:
        where = f"<packaged {DEFAULT_TABLE}>"
        text = default_table_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceTableError(f"{where}: not valid TOML: {exc}") from None
    return _Parser(where).table(data)


class _Parser:
    """Validates the TOML tree, naming the file and the dotted key in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> PriceTableError:
        return PriceTableError(f"{self.where}: {key}: {problem}")

    def _unknown(self, key: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for name in table:
            if name not in allowed:
                options = ", ".join(sorted(allowed))
                prefix = f"{key}.{name}" if key else name
                raise self.fail(prefix, f"unknown key (expected one of: {options})")

    def _text(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value

    def _table(self, key: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def _price(self, key: str, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "must be a number (USD per million tokens)")
        price = Decimal(str(value))
        if not price.is_finite():
            raise self.fail(key, "must be a finite number")
        if price < 0:
            raise self.fail(key, f"negative price {value}; prices are USD per million tokens >= 0")
        if price > MAX_USD_PER_MTOK:
            raise self.fail(
                key,
                f"{value} USD per million tokens is above the maximum {MAX_USD_PER_MTOK} "
                "(it keeps every task's cost within 64-bit nano-USD)",
            )
        return price

    def _rates(self, key: str, table: Mapping[str, Any], *, required: bool) -> Rates:
        """Rates of one entry; missing cache prices follow the entry's own input price.

        They never come from another entry, so an entry that is zero for input and output
        and silent on cache is free, not charged someone else's cache prices.
        """
        if required:
            for name in ("input", "output"):
                if name not in table:
                    raise self.fail(f"{key}.{name}", "missing (every model needs input and output)")
        get = {n: self._price(f"{key}.{n}", table[n]) for n in RATE_KEYS if n in table}
        base = get.get("input", Decimal(0))
        cache_write = get.get("cache_write", base)
        return Rates(
            input=base,
            output=get.get("output", Decimal(0)),
            cache_read=get.get("cache_read", base),
            cache_write=cache_write,
            cache_write_1h=get.get("cache_write_1h", cache_write),
        )

    def _date(self, key: str, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(key, "must be a date like 2026-11-25")

    def _tiers(self, key: str, value: Any) -> tuple[Tier, ...]:
        if not isinstance(value, list):
            raise self.fail(key, "must be an array of tables ([[...tiers]])")
        tiers = []
        for i, item in enumerate(value):
            tkey = f"{key}[{i}]"
            item = self._table(tkey, item)
            self._unknown(tkey, item, _TIER_KEYS)
            above = item.get("above_prompt_tokens")
            if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
                raise self.fail(f"{tkey}.above_prompt_tokens", "must be a positive integer")
            tiers.append(Tier(above, self._rates(tkey, item, required=True)))
        thresholds = [t.above_prompt_tokens for t in tiers]
        if len(set(thresholds)) != len(thresholds):
            raise self.fail(key, "two tiers have the same above_prompt_tokens")
        return tuple(sorted(tiers, key=lambda t: t.above_prompt_tokens))

    def _glob(self, key: str, pattern: str) -> None:
        depth = 0
        for char in pattern:
            if char == "[":
                depth += 1
            elif char == "]" and depth:
                depth -= 1
        if depth or "[]" in pattern or "[!]" in pattern:
            raise self.fail(key, f"bad glob {pattern!r}: unbalanced or empty [...]")

    def _entry(self, key: str, name: str, value: Any, kind: str) -> PriceEntry:
        table = self._table(key, value)
        allowed = _ENTRY_KEYS - {"backend"} if kind == "backend" else _ENTRY_KEYS
        self._unknown(key, table, allowed)
        if not name.strip():
            raise self.fail(key, "empty name")
        if kind == "glob":
            self._glob(key, name)
        for needed in ("effective_from", "source"):
            if needed not in table:
                raise self.fail(f"{key}.{needed}", "missing (every entry says when and where from)")
        backend = name if kind == "backend" else table.get("backend", "")
        if kind != "backend" and "backend" in table:
            backend = self._text(f"{key}.backend", backend)
        return PriceEntry(
            key=name,
            rates=self._rates(key, table, required=kind != "backend"),
            tiers=self._tiers(f"{key}.tiers", table["tiers"]) if "tiers" in table else (),
            backend=backend,
            effective_from=self._date(f"{key}.effective_from", table["effective_from"]),
            source=self._text(f"{key}.source", table["source"]),
            kind=kind,
        )

    def table(self, data: Mapping[str, Any]) -> PriceTable:
        self._unknown("", data, _TOP_KEYS)
        if "version" not in data:
            raise self.fail("version", "missing (each task records the version it was priced with)")
        version = self._text("version", str(data["version"]))
        source = self._text("source", data.get("source", "unspecified"))
        exact: dict[str, PriceEntry] = {}
        globs: list[tuple[int, PriceEntry]] = []
        models = self._table("models", data.get("models", {}))
        for position, (name, value) in enumerate(models.items()):
            key = f'models."{name}"'
            if _GLOB_CHARS.search(name):
                globs.append((position, self._entry(key, name, value, "glob")))
            else:
                exact[name] = self._entry(key, name, value, "exact")
        backends = {
            name: self._entry(f'backends."{name}"', name, value, "backend")
            for name, value in self._table("backends", data.get("backends", {})).items()
        }
        # The glob with the most literal characters is the most specific; ties: file order.
        ordered = tuple(
            entry
            for _, entry in sorted(
                globs, key=lambda pe: (-len(_GLOB_CHARS.sub("", pe[1].key)), pe[0])
            )
        )
        if "reference_model" not in data:
            raise self.fail("reference_model", "missing (every task is priced again on it)")
        reference_model = self._text("reference_model", data["reference_model"])
        reference = find_entry(exact, ordered, {}, reference_model, "")
        if reference is None:
            raise self.fail(
                "reference_model", f"{reference_model!r} matches no entry under [models]"
            )
        return PriceTable(
            path=self.where,
            version=version,
            reference_model=reference_model,
            source=source,
            exact=exact,
            globs=ordered,
            backends=backends,
            reference=reference,
        )
