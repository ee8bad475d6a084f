"""The web dashboard's live cost meter and the server's events: usage updates and budgets.

A running task's cost on the page is what the server says it has committed: its settled
attempts plus its latest usage update (``cost + interim.cost``), and both event kinds are
shown in its output panel, in their own classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.browser import Browser
from .support.helpers import event, free_port, report, stub_for
from .support.server_thread import ServerFactory
from .test_web_dashboard import PANEL, open_panel, panel_nodes, url, wait_live

pytestmark = [pytest.mark.server, pytest.mark.browser]
BUDGETS = """
[budgets.team-daily]
amount_usd = "0.01"
period = "day"
"""
COST = "document.querySelector(\"tr.task[data-task='r'] .c-cost\")"


def test_a_running_tasks_cost_counts_its_usage_updates_and_its_events_show(
    tmp_path: Path, server_factory: ServerFactory, browser: Browser
) -> None:
    (tmp_path / "budgets.toml").write_text(BUDGETS)
    server = server_factory(http_port=free_port(), budgets=str(tmp_path / "budgets.toml"))
    _, stub = stub_for(server.address)
    report(stub, "sc", [event("r", 1, "started", backend="anthropic", model="claude-opus-5-5")])
    browser.goto(url(server))
    wait_live(browser)
    open_panel(browser, "r")
    usage = events_pb.Usage(output_tokens=600)  # $0.012 on claude-opus-5-5: over the budget
    report(stub, "sc", [event("r", 2, "usage", usage=usage)])
    [task] = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["r"])).tasks
    live = task.cost.actual.total_nanos + task.interim.cost.actual.total_nanos
    assert live == 12_000_000
    browser.wait(f"{COST}.dataset.nanos === {json.dumps(str(live))}")
    assert browser.eval(f"{COST}.textContent") == "$0.012000"
    browser.wait(
        f"document.getElementById('running-cost').dataset.nanos === {json.dumps(str(live))}"
    )
    browser.wait(f'document.querySelector("{PANEL.format(task="r")} .out-budget")')
    shown = {node["cls"].split()[0]: node["text"] for node in panel_nodes(browser, "r")}
    assert shown["out-usage"] == "usage so far: 600 out · $0.012000", shown
    assert shown["out-budget"] == (
        "budget team-daily (all, day) reached 100%: $0.012000 of $0.010000"
    ), shown
    # The attempt's final figure replaces its usage update: no double count.
    report(stub, "sc", [event("r", 3, "finished", usage=events_pb.Usage(output_tokens=700))])
    browser.wait(f"{COST}.dataset.nanos === {json.dumps(str(14_000_000))}")
