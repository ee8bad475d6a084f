"""The shipped Grafana dashboard, read the way Grafana reads it, for the dashboard tests.

Grafana substitutes its variables before a query reaches Prometheus; ``to_promql`` does the
same with fixed values, so a test can run every panel's query against a real Prometheus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "execstream.json"

# What Grafana would put in place of each variable; "All" of a multi-value variable is its
# allValue, ".*". A query using a variable missing here fails the tests on purpose.
SUBSTITUTIONS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "600s",
    "__range_s": "600",
    "__range_ms": "600000",
    "backend": ".*",
    "model": ".*",
}
# $name, ${name}, ${name:format} and the deprecated [[name]].
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class Query:
    """One target of one panel."""

    panel: str
    ref_id: str
    expr: str
    legend: str = ""

    @property
    def name(self) -> str:
        return f"{self.panel} [{self.ref_id}]"


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(panel["title"], target["refId"], target["expr"], target.get("legendFormat", ""))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables(expr: str) -> set[str]:
    return {next(group for group in m.groups() if group) for m in VARIABLE.finditer(expr)}


def panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    """The one panel titled ``title``."""
    found = [p for p in panels(dashboard) if p["title"] == title]
    assert len(found) == 1, f"no single panel titled {title!r}"
    return found[0]


def to_promql(expr: str, **overrides: str) -> str:
    """``expr`` with every Grafana variable replaced; KeyError names one we do not know.

    ``overrides`` replace some values, e.g. ``__range="90s"`` for another time range.
    """
    values = SUBSTITUTIONS | overrides

    def value(match: re.Match[str]) -> str:
        return values[next(group for group in match.groups() if group)]

    return VARIABLE.sub(value, expr)


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def label_values_query(definition: str) -> tuple[str, str]:
    """(series selector, label) of a variable's ``label_values(selector, label)`` query."""
    match = LABEL_VALUES.match(definition.strip())
    assert match is not None, f"not a label_values() query: {definition}"
    return match["selector"], match["label"]
