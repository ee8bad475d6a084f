"""deploy/prometheus/alerts.yml: valid for promtool, and every alert unit-tested by promtool.

The rules' behaviour is tested in tests/prometheus/alerts_test.yml (promtool's own unit-test
format: input series, evaluation times, expected alerts); this module runs it, and checks
that no alert goes untested and that Prometheus in deploy/ loads the file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from execstream_server.transport.metrics import ServerMetrics

from .support.prometheus_server import require_tool

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "alerts_test.yml"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@pytest.mark.prometheus
def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_the_rules_pass_their_promtool_unit_tests() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_seen_firing_in_a_unit_test() -> None:
    tests = load(RULE_TESTS)
    assert [str((RULE_TESTS.parent / f).resolve()) for f in tests["rule_files"]] == [str(RULES)]
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    assert set(names) <= fired, f"never seen firing: {sorted(set(names) - fired)}"


def test_every_alert_has_a_severity_and_says_what_happened() -> None:
    for rule in alerts():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_shipped_prometheus_loads_the_rules() -> None:
    deploy = ROOT / "deploy"
    config = load(deploy / "prometheus" / "prometheus.yml")
    assert [deploy / "prometheus" / f for f in config["rule_files"]] == [RULES]
    compose = load(deploy / "compose.yaml")
    assert (
        "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"
        in (compose["services"]["prometheus"]["volumes"])
    )


def test_the_rules_read_only_metrics_the_server_exports() -> None:
    exported = set()
    for family in ServerMetrics().registry.collect():
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    for rule in alerts():
        used = set(re.findall(r"\b((?:execstream|process)_[a-z0-9_]+)\b", rule["expr"]))
        assert used <= exported, f"{rule['alert']}: {sorted(used - exported)}"
