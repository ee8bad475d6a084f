"""docs/metrics.md describes every exported metric; docs/grafana.md shows every dashboard query.

Queries are compared without whitespace, so the doc may break a long one across lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from execstream_server.transport.metrics import ServerMetrics

from .support import grafana_dashboard as dashboard

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = (DOCS / "metrics.md").read_text()
PANELS_DOC = re.sub(r"\s+", "", (DOCS / "grafana.md").read_text())


def exported_names() -> list[str]:
    """Metric names as Prometheus shows them (counters with ``_total``)."""
    return [
        family.name + ("_total" if family.type == "counter" else "")
        for family in ServerMetrics().registry.collect()
    ]


@pytest.mark.parametrize("name", exported_names())
def test_every_metric_has_a_row(name: str) -> None:
    assert f"| `{name}` |" in DOC, f"docs/metrics.md has no table row for {name}"


@pytest.mark.parametrize("query", dashboard.queries(dashboard.load()), ids=lambda query: query.name)
def test_every_dashboard_query_is_in_the_doc(query: dashboard.Query) -> None:
    expr = re.sub(r"\s+", "", query.expr)
    assert expr in PANELS_DOC, f"docs/grafana.md does not show {query.name} as shipped"
