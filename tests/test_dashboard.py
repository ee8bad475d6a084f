"""The Grafana dashboard's JSON: provisionable as shipped, money in USD, every panel queries.

The queries themselves run against a real Prometheus in test_dashboard_queries.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from execstream_server.transport.metrics import ServerMetrics

from .support import grafana_dashboard as dashboard
from .support.grafana_dashboard import SUBSTITUTIONS, panels, queries

BOARD = dashboard.load()
PANELS = list(panels(BOARD))
MONEY_METRICS = re.compile(r"execstream_(reference_|running_)?cost_usd")
METRIC = re.compile(r"\b((?:execstream|gen_ai|grpc_server)_[a-z0-9_]+)\b")
# The issue's panels, by a phrase in their titles.
REQUIRED_TITLES = (
    "spend by model",
    "savings vs reference",
    "tokens by model and type",
    "cost per finished task",
    "task outcomes",
    "ingest rate",
    "watchers",
    "grpc error rate",
)


def template(name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [v for v in BOARD["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, f"no single templating variable named {name}"
    return found[0]


def exported_sample_names() -> set[str]:
    """Every sample name a server's registry can export, observed or not."""
    names: set[str] = set()
    registry = ServerMetrics().registry
    for family in registry.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_the_datasource_is_a_template_variable_not_an_import_input() -> None:
    text = dashboard.DASHBOARD.read_text()
    assert "__inputs" not in BOARD and "${DS_" not in text, "file provisioning leaves these unset"
    variable = template("datasource")
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    for panel in PANELS:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_money_panels_are_in_us_dollars_and_only_they() -> None:
    for panel in PANELS:
        money = any(MONEY_METRICS.search(t["expr"]) for t in panel["targets"])
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert (unit == "currencyUSD") == money, f"{panel['title']}: unit {unit}"


def test_every_panel_has_a_query_and_a_unique_id() -> None:
    ids = [panel["id"] for panel in BOARD["panels"]] + [
        inner["id"] for row in BOARD["panels"] for inner in row.get("panels", [])
    ]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in PANELS:
        assert panel["targets"], f"{panel['title']} has no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    assert BOARD["uid"] and BOARD["title"]


@pytest.mark.parametrize("phrase", REQUIRED_TITLES)
def test_the_issue_panels_are_there(phrase: str) -> None:
    assert any(phrase in panel["title"].lower() for panel in PANELS), phrase


def test_savings_are_reference_minus_actual_in_promql() -> None:
    savings = [p for p in PANELS if "savings" in p["title"].lower()]
    assert savings
    for panel in savings:
        for target in panel["targets"]:
            reference, _, actual = target["expr"].partition(" - ")
            assert "execstream_reference_cost_usd_total" in reference, target["expr"]
            assert "execstream_cost_usd_total" in actual, target["expr"]


def test_queries_name_only_metrics_the_server_exports() -> None:
    exported = exported_sample_names()
    for query in queries(BOARD):
        unknown = set(METRIC.findall(query.expr)) - exported
        assert not unknown, f"{query.name}: {sorted(unknown)}"


def test_every_grafana_variable_in_a_query_can_be_substituted() -> None:
    exprs = [query.expr for query in queries(BOARD)]
    exprs += [v["definition"] for v in BOARD["templating"]["list"] if v["type"] == "query"]
    used = set().union(*(dashboard.variables(expr) for expr in exprs))
    assert used <= set(SUBSTITUTIONS), sorted(used - set(SUBSTITUTIONS))
    template_names = {v["name"] for v in BOARD["templating"]["list"]}
    assert {name for name in used if not name.startswith("__")} <= template_names


def test_model_and_backend_filters_allow_everything_by_default() -> None:
    for name in ("backend", "model"):
        variable = template(name)
        assert variable["includeAll"] and variable["allValue"] == ".*"
        assert variable["datasource"]["uid"] == "${datasource}"


def test_every_panel_says_what_its_figure_means() -> None:
    for panel in PANELS:
        assert panel.get("description", "").strip(), panel["title"]


def test_in_range_figures_subtract_the_start_instead_of_extrapolating() -> None:
    """increase() is only the fallback for a series that reset inside the range."""
    in_range = [panel for panel in PANELS if panel["title"].endswith(" in range")]
    assert len(in_range) >= 5
    for panel in in_range:
        for target in panel["targets"]:
            expr = target["expr"]
            assert "offset $__range" in expr and "resets(" in expr, panel["title"]
