"""docs/metrics.md describes every exported metric and shows every dashboard query as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from execstream_server.transport.metrics import ServerMetrics

from .support import grafana_dashboard as dashboard

DOC = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()


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
    assert query.expr in DOC, f"docs/metrics.md does not show {query.name} as shipped"
