"""The web dashboard at its edges, in a real headless Chromium: refused watches, a replaced
store, a small --max-page-size, malformed deep links, label names that are also object
properties, sub-micro-dollar amounts and the markers of partial sums.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.browser import Browser
from .support.helpers import event, free_port, report, stub_for, task_events, wait_for
from .support.processes import ServerProcess
from .support.server_thread import ServerFactory, ServerThread

pytestmark = [pytest.mark.server, pytest.mark.browser]

VISIBLE = "[...document.querySelectorAll('tr.task')].map(r => r.dataset.task).sort().join()"
CONN = "document.getElementById('conn')"


def url(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.app.http_port}/"


def wait_live(browser: Browser, timeout: float = 20) -> None:
    browser.wait(f"{CONN}?.textContent === 'live'", timeout)


def watch_live_flicker(browser: Browser) -> None:
    """From now on, window.__live counts the times the header said 'live'."""
    browser.eval(
        f"""window.__live = 0; new MutationObserver(() => {{
            if ({CONN}.textContent === 'live') window.__live += 1;
        }}).observe({CONN}, {{childList: true, characterData: true, subtree: true}});"""
    )


def test_a_watch_refused_after_its_headers_backs_off_and_never_shows_live(
    server_factory: ServerFactory, browser: Browser
) -> None:
    """The server's one watcher slot is taken: each refusal lengthens the wait."""
    server = server_factory(http_port=free_port(), limits={"max_watchers": 1})
    channel, stub = stub_for(server.address)
    held = stub.WatchExecution(service_pb.WatchExecutionRequest())
    wait_for(lambda: server.call(lambda: server.engine.hub.watcher_count) == 1)
    browser.goto(url(server))
    browser.wait(f"{CONN}.textContent === 'reconnecting…'")
    watch_live_flicker(browser)
    browser.wait(f"{CONN}.title.startsWith('attempt 3,')", 20)
    assert "--max-watchers" in browser.eval(f"{CONN}.title")
    assert browser.eval("window.__live") == 0
    held.cancel()
    channel.close()
    browser.click("button.retry")
    wait_live(browser)


@pytest.mark.parametrize("new_events", [3, 60], ids=["head-behind", "head-ahead"])
def test_a_server_restarted_on_a_replaced_store_is_listed_again(
    tmp_path: Path, browser: Browser, new_events: int
) -> None:
    """The cursor is beyond the new log's head (REVISION_IN_FUTURE) or within it (the
    opening Progress carries another log_id): either way the page lists the new store."""
    db = tmp_path / "execstream.db"
    web = ServerProcess(db, "--heartbeat-interval", "1s", http=True).start()
    try:
        channel, stub = stub_for(web.address)
        report(stub, "sc", task_events("old-a", 20), task_events("old-b", 5))
        channel.close()
        browser.goto(f"http://127.0.0.1:{web.http_port}/#/task/old-a")
        browser.wait(
            "document.querySelectorAll(\"tr.detail[data-task='old-a'] [data-rev]\").length === 22"
        )
        wait_live(browser)
        web.terminate()
        browser.wait(f"{CONN}.textContent === 'reconnecting…'", 15)
        for path in tmp_path.glob("execstream.db*"):
            path.unlink()  # a new store: another log_id, revisions from 1 again
        interlude = ServerProcess(db).start()
        channel, stub = stub_for(interlude.address)
        report(stub, "sc-new", task_events("new-x", new_events))
        channel.close()
        interlude.terminate()
        web.start()
        browser.wait(f"{VISIBLE} === 'new-x'", 30)
        wait_live(browser)
        assert browser.eval("document.querySelectorAll(\"tr[data-task^='old-']\").length") == 0
        assert browser.eval("location.hash") in ("#/", "")
    finally:
        web.kill()


def test_a_max_page_size_below_a_thousand_lists_every_page(
    server_factory: ServerFactory, browser: Browser
) -> None:
    server = server_factory(http_port=free_port(), limits={"max_page_size": 2})
    _, stub = stub_for(server.address)
    report(stub, "sc", *[task_events(f"t{i}", 1) for i in range(5)])
    started = event("run", 1, "started", backend="anthropic", model="claude-sonnet-4-5")
    report(stub, "sc", [started])
    browser.goto(url(server))
    browser.wait(f"{VISIBLE} === 'run,t0,t1,t2,t3,t4'")
    wait_live(browser)
    usage = events_pb.Usage(model="claude-sonnet-4-5", input_tokens=1000)
    report(
        stub, "sc", [event("run", 2, "status", status=events_pb.TASK_STATUS_RETRYING, usage=usage)]
    )
    task = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["run"])).tasks[0]
    cost = "document.querySelector(\"tr.task[data-task='run'] .c-cost\").dataset.nanos"
    browser.wait(f"{cost} === {json.dumps(str(task.cost.actual.total_nanos))}")


def test_a_malformed_deep_link_falls_back_to_the_task_list(
    server_factory: ServerFactory, browser: Browser
) -> None:
    server = server_factory(http_port=free_port())
    _, stub = stub_for(server.address)
    report(stub, "sc", task_events("t", 1))
    browser.goto(url(server) + "#/task/%E0%A4%A")
    browser.wait(f"{VISIBLE} === 't'")
    wait_live(browser)
    browser.eval("location.hash = '#/task/%'")
    browser.eval("location.hash = '#/task/t'")
    browser.wait("document.querySelector(\"tr.detail[data-task='t'] .out-body\")")
    assert not [line for line in browser.console() if "URIError" in line]


def test_labels_named_like_object_properties_filter_as_any_other(
    server_factory: ServerFactory, browser: Browser
) -> None:
    server = server_factory(http_port=free_port())
    _, stub = stub_for(server.address)
    for task, labels in [("a", {"constructor": "c"}), ("b", {"__proto__": "p"}), ("c", {})]:
        report(stub, "sc", [event(task, 1, "started", labels=labels)])
    browser.goto(url(server))
    browser.wait(f"{VISIBLE} === 'a,b,c'")
    for query, expected in [
        ("constructor", "a"),
        ("__proto__", "b"),
        ("__proto__=p", "b"),
        ("toString", ""),
        ("hasOwnProperty", ""),
    ]:
        browser.fill("#f-label", query)
        browser.wait(f"{VISIBLE} === {json.dumps(expected)}")
    browser.fill("#f-label", "")
    browser.click("tr.task[data-task='b'] button.toggle")
    browser.wait(
        "document.querySelector(\"tr.detail[data-task='b'] .facts\")"
        "?.textContent.includes('__proto__=p')"
    )


PRICES = """
version = "edges"
reference_model = "ref"

[models.ref]
input = 1.0
output = 1.0
effective_from = 2026-01-01
source = "test"

[models.tiny]
input = 0.2
output = 0.2
effective_from = 2026-01-01
source = "test"

[models.dear]
input = 1.4
output = 1.4
effective_from = 2026-01-01
source = "test"
"""


def finished(task: str, model: str, **usage: object) -> list[events_pb.ExecutionEvent]:
    return [
        event(task, 1, "started", backend="api", model=model),
        event(task, 2, "finished", usage=events_pb.Usage(model=model, **usage)),  # type: ignore[arg-type]
    ]


def test_amounts_below_a_micro_dollar_and_partial_sums_are_marked(
    server_factory: ServerFactory, browser: Browser, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    server = server_factory(http_port=free_port(), pricing=str(prices))
    _, stub = stub_for(server.address)
    report(stub, "sc", finished("tiny", "tiny", input_tokens=1))  # 200 nano-USD
    report(stub, "sc", finished("dear", "dear", input_tokens=1))  # saves -400 nano-USD
    report(stub, "sc", finished("guess", "ref", input_tokens=5000, estimated=True))
    report(stub, "sc", finished("mystery", "no-price-xyz", input_tokens=10))
    browser.goto(url(server) + "#/costs")
    browser.wait("document.querySelectorAll('.per-task tbody tr').length === 4")
    cells = browser.eval(
        """Object.fromEntries([...document.querySelectorAll('.per-task tbody tr')].map(r => [
            r.dataset.task, [...r.querySelectorAll('.money')].map(c => c.textContent)]))"""
    )
    assert cells["tiny"] == ["<$0.000001", "$0.000001", "+<$0.000001"]  # reference: 1,000
    assert cells["dear"][2] == "\N{MINUS SIGN}<$0.000001"
    footer = browser.eval(
        "[...document.querySelectorAll('.grand-total .money')].map(c => c.textContent)"
    )
    assert footer[0].startswith("≥≈$") and footer[1].startswith("≈$")
    assert footer[2].startswith("≤≈")
    spend = browser.eval("document.getElementById('spend').textContent")
    assert spend.startswith("spent ≥≈$") and "savings ≤≈" in spend and "1 unpriced" in spend
