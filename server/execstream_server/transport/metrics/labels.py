"""Bounded label values: no client can make the metrics grow without limit.

Clients choose backend and model names; each new name adds a set of series to every metric,
so each label keeps the values known from configuration, then the first N others, then
``other``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

OTHER = "other"
UNKNOWN_BACKEND = "unknown"  # the backend label of a task that named none


class LabelCap:
    """Bounds one label's values: known ones, then the first N others, then 'other'.

    Clients choose backend and model names; without a cap each new name would add a set of
    series to every metric (1,000 backends: 122k series, a 12 MB scrape).
    """

    def __init__(self, known: Iterable[str], *, max_unknown: int) -> None:
        self._known = set(known)
        self._unknown: set[str] = set()
        self._max_unknown = max_unknown
        self._lock = threading.Lock()

    def label(self, value: str) -> str:
        if not value or value in self._known or value in self._unknown:
            return value  # an empty value is no value (Prometheus drops the label)
        with self._lock:
            if len(self._unknown) < self._max_unknown:
                self._unknown.add(value)
                return value
        return OTHER


class SeriesCap:
    """Bounds (backend, model) pairs: known ones, then the first N others, then 'other'.

    Each label is capped on its own (``LabelCap``), but every backend may name every model:
    50 backends x 200 models within those caps made 650k series and a 62 MB scrape. A pair
    past the cap is exported with the model ``other``: at most one such series per
    backend, so the series stay within (known + N + backends) pairs.
    """

    def __init__(self, known: Iterable[tuple[str, str]], *, max_unknown: int) -> None:
        self._known = set(known)
        self._unknown: set[tuple[str, str]] = set()
        self._max_unknown = max_unknown
        self._lock = threading.Lock()

    def model(self, backend: str, model: str) -> str:
        """The model label to export beside ``backend`` (both already capped)."""
        pair = (backend, model)
        if model == OTHER or pair in self._known or pair in self._unknown:
            return model
        with self._lock:
            if len(self._unknown) < self._max_unknown:
                self._unknown.add(pair)
                return model
        return OTHER


class LabelSetCap:
    """Bounds the combinations of task label values: the first N, then every one 'other'.

    Each task label key is capped on its own (``LabelCap``), but the keys multiply: two keys
    of 100 values each, on one model, made 10,000 combinations and a 25 MB scrape. A
    combination past the cap is exported with every task label ``other``: at most one such
    series per (backend, model) pair. Tasks without any of the labels take no slot.
    """

    def __init__(self, *, max_unknown: int) -> None:
        self._seen: set[tuple[str, ...]] = set()
        self._max_unknown = max_unknown
        self._lock = threading.Lock()

    def values(self, backend: str, model: str, values: tuple[str, ...]) -> tuple[str, ...]:
        """The task label values to export beside ``backend`` and ``model`` (all capped)."""
        combination = (backend, model, *values)
        if not any(values) or combination in self._seen:
            return values
        with self._lock:
            if len(self._seen) < self._max_unknown:
                self._seen.add(combination)
                return values
        return (OTHER,) * len(values)
