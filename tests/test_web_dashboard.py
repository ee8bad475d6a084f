"""The web dashboard in a real headless Chromium, against a real server and a real sidecar.

Each test reports through native gRPC as a sidecar does, and reads what the page shows
through the DOM: rows, output nodes and their kind classes, cost cells (whose data-nanos
carry the exact figure the text is formatted from).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.transport.auth import Role, create_token

from .support.browser import Browser
from .support.helpers import event, free_port, report, stub_for, task_events, wait_for
from .support.processes import ServerProcess
from .support.server_thread import ServerFactory, ServerThread

pytestmark = [pytest.mark.server, pytest.mark.browser]

PANEL = "tr.detail[data-task='{task}'] .out-body"
MINUS = "\N{MINUS SIGN}"


def event_nodes(task: str) -> str:
    """JavaScript: the event nodes (those with a revision) of a task's output panel."""
    return f'[...document.querySelectorAll("{PANEL.format(task=task)} > [data-rev]")]'


def at_bottom(task: str) -> str:
    """JavaScript: whether a task's output panel is scrolled to its end."""
    body = f'document.querySelector("{PANEL.format(task=task)}")'
    return f"(b => b.scrollHeight - b.scrollTop - b.clientHeight <= 8)({body})"


@pytest.fixture
def web_server(server_factory: ServerFactory) -> ServerThread:
    return server_factory(http_port=free_port(), heartbeat_interval_s=1.0)


def url(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.app.http_port}/"


def rows(browser: Browser) -> dict[str, dict[str, str]]:
    """The task list as the page shows it, by task id."""
    found = browser.eval(
        """Object.fromEntries([...document.querySelectorAll('tr.task')].map(r => [r.dataset.task, {
            status: r.querySelector('.status').textContent,
            sidecar: r.querySelector('.c-sidecar').textContent,
            model: r.querySelector('.c-model').textContent,
            cost: r.querySelector('.c-cost').textContent,
            live: String(r.querySelector('.c-cost').classList.contains('live')),
        }]))"""
    )
    return dict(found)


def panel_nodes(browser: Browser, task: str) -> list[dict[str, str]]:
    """The nodes of a task's output panel: kind class, text and revision."""
    return list(
        browser.eval(
            f"""[...document.querySelectorAll("{PANEL.format(task=task)} > *")].map(n => ({{
                cls: n.className, text: n.textContent, rev: n.dataset.rev || ''
            }}))"""
        )
    )


def open_panel(browser: Browser, task: str) -> None:
    browser.wait(f"document.querySelector(\"tr.task[data-task='{task}'] button.toggle\")")
    browser.click(f"tr.task[data-task='{task}'] button.toggle")
    browser.wait(f'document.querySelector("{PANEL.format(task=task)}")')


def wait_live(browser: Browser) -> None:
    browser.wait("document.getElementById('conn')?.textContent === 'live'", 20)


def test_page_lists_tasks_reported_by_a_sidecar(
    web_server: ServerThread, browser: Browser, artifacts: Path
) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "laptop", task_events("build", 2))
    browser.goto(url(web_server))
    wait_live(browser)
    browser.wait("document.querySelectorAll('tr.task').length === 1")
    started = event("summary", 1, "started", backend="ollama", model="llama3.2:3b")
    report(stub, "gpu-box", [started, event("summary", 2, "token", text="The build ")])
    browser.wait("document.querySelectorAll('tr.task').length === 2")
    shown = rows(browser)
    assert shown["build"]["status"] == "succeeded" and shown["build"]["sidecar"] == "laptop"
    assert shown["summary"] == {
        "status": "running",
        "sidecar": "gpu-box",
        "model": "ollama · llama3.2:3b",
        "cost": "$0.000000",
        "live": "true",
    }
    browser.screenshot(artifacts / "task-list.png")


def test_filters_narrow_the_list_by_status_sidecar_model_and_label(
    web_server: ServerThread, browser: Browser
) -> None:
    _, stub = stub_for(web_server.address)
    a = event("a", 1, "started", backend="ollama", model="m1", labels={"team": "infra"})
    b = event("b", 1, "started", backend="anthropic", model="m2", labels={"team": "web"})
    report(stub, "one", [a])
    report(stub, "two", [b, event("b", 2, "finished")])
    browser.goto(url(web_server))
    browser.wait("document.querySelectorAll('tr.task').length === 2")
    visible = "[...document.querySelectorAll('tr.task')].map(r => r.dataset.task).join()"
    for selector, value, expected in [
        ("#f-status", "succeeded", "b"),
        ("#f-status", "", "b,a"),
        ("#f-sidecar", "one", "a"),
        ("#f-sidecar", "", "b,a"),
        ("#f-model", "m2", "b"),
        ("#f-model", "", "b,a"),
    ]:
        browser.eval(
            f"(s => {{ s.value = {json.dumps(value)}; s.dispatchEvent(new Event('input')); }})"
            f"(document.querySelector('{selector}'))"
        )
        browser.wait(f"{visible} === {json.dumps(expected)}")
    browser.fill("#f-label", "team=infra")
    browser.wait(f"{visible} === 'a'")
    browser.fill("#f-label", "team")
    browser.wait(f"{visible} === 'b,a'")


def test_output_appears_live_in_its_kind_class_within_a_second(
    web_server: ServerThread, browser: Browser
) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "sc", [event("t", 1, "started", backend="shell")])
    browser.goto(url(web_server))
    open_panel(browser, "t")
    browser.wait(f'document.querySelector("{PANEL.format(task="t")} .out-started")')
    browser.eval(
        """window.__seen = {}; new MutationObserver(() => {
            for (const n of document.querySelectorAll('.out-body > [data-rev]'))
                window.__seen[n.dataset.rev] ??= Date.now();
        }).observe(document.body, {childList: true, subtree: true});"""
    )
    kinds: list[tuple[str, dict[str, Any], str]] = [
        ("stdout", {"text": "compiling\n"}, "out-stdout"),
        ("stderr", {"text": "warning: slow disk\n"}, "out-stderr"),
        ("token", {"text": "tokens "}, "out-token"),
        ("error", {"message": "http 529", "code": "http_529"}, "out-error"),
        ("status", {"status": events_pb.TASK_STATUS_RETRYING, "message": "again"}, "out-status"),
        ("status", {"status": events_pb.TASK_STATUS_RUNNING}, "out-status"),
        ("tool_call", {"tool_name": "read_file", "result_summary": "42 lines"}, "out-tool"),
    ]
    delays = []
    for seq, (body, fields, css) in enumerate(kinds, start=2):
        sent = time.time() * 1000
        ack = report(stub, "sc", [event("t", seq, body, **fields)])
        rev = ack.last_revision
        seen = browser.wait(f"window.__seen[{json.dumps(str(rev))}]", 10)
        delays.append(seen - sent)
        node = panel_nodes(browser, "t")[-1]
        assert node["rev"] == str(rev) and css in node["cls"].split(), node
    delays.sort()
    assert delays[len(delays) // 2] < 1000, f"median delay {delays} ms"


def test_a_panel_collapses_and_expands_again_replaying_from_the_start(
    web_server: ServerThread, browser: Browser
) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "sc", task_events("t", 5))
    browser.goto(url(web_server))
    open_panel(browser, "t")
    browser.wait(f'document.querySelectorAll("{PANEL.format(task="t")} > [data-rev]").length === 7')
    browser.click("tr.task[data-task='t'] button.toggle")
    browser.wait("document.querySelector(\"tr.detail[data-task='t']\").hidden")
    assert browser.eval("document.querySelectorAll('.out-body').length") == 0
    open_panel(browser, "t")
    revs = browser.wait(
        f"(r => r.length === 7 && r)({event_nodes('t')}.map(n => Number(n.dataset.rev)))"
    )
    assert revs == sorted(set(revs))


def test_a_deep_link_opens_the_task_replayed_from_the_start(
    web_server: ServerThread, browser: Browser
) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "sc", task_events("deep", 3), task_events("other", 1))
    browser.goto(url(web_server) + "#/task/deep")
    browser.wait(
        f'document.querySelectorAll("{PANEL.format(task="deep")} > [data-rev]").length === 5'
    )
    texts = [n["text"] for n in panel_nodes(browser, "deep")]
    assert texts[1:4] == ["stdout 2\n", "stdout 3\n", "stdout 4\n"]


def test_auto_scroll_follows_the_end_and_pauses_while_scrolled_up(
    web_server: ServerThread, browser: Browser
) -> None:
    _, stub = stub_for(web_server.address)
    report(stub, "sc", [event("t", 1, "started")])
    browser.goto(url(web_server))
    open_panel(browser, "t")
    body = PANEL.format(task="t")
    lines = [event("t", 2 + i, "stdout", text=f"line {i}\n") for i in range(200)]
    report(stub, "sc", lines)
    browser.wait(f"{event_nodes('t')}.length === 201 && {at_bottom('t')}")
    browser.scroll(body, 0)
    browser.wait("document.querySelector('.output').dataset.following === 'false'")
    report(stub, "sc", [event("t", 202 + i, "stdout", text=f"more {i}\n") for i in range(50)])
    browser.wait("document.querySelector('.jump-live').textContent.includes('50 new')")
    assert browser.eval(f'document.querySelector("{body}").scrollTop') == 0
    browser.click(".jump-live")
    browser.wait(f"{event_nodes('t')}.length === 251 && {at_bottom('t')}")
    assert browser.eval("document.querySelector('.jump-live').hidden") is True


def finish_with(
    task: str, model: str, backend: str, **usage: object
) -> list[events_pb.ExecutionEvent]:
    return [
        event(task, 1, "started", backend=backend, model=model),
        event(task, 2, "token", text="answer"),
        event(task, 3, "finished", usage=events_pb.Usage(model=model, **usage)),  # type: ignore[arg-type]
    ]


def test_the_cost_tables_equal_get_snapshot(
    web_server: ServerThread, browser: Browser, artifacts: Path
) -> None:
    _, stub = stub_for(web_server.address)
    report(
        stub,
        "sc",
        finish_with(
            "hosted",
            "claude-sonnet-4-5",
            "anthropic",
            input_tokens=12000,
            cache_read_tokens=3000,
            output_tokens=800,
            reasoning_tokens=100,
        ),
    )
    report(
        stub,
        "sc",
        finish_with(
            "local", "llama3.2:3b", "ollama", input_tokens=1000, output_tokens=200, estimated=True
        ),
    )
    report(
        stub,
        "sc",
        finish_with("mystery", "no-such-model-xyz", "openai", input_tokens=500, output_tokens=50),
    )
    snapshot = stub.GetSnapshot(service_pb.GetSnapshotRequest())
    browser.goto(url(web_server) + "#/costs")
    browser.wait("document.querySelectorAll('.per-task tbody tr').length === 3")
    shown = browser.eval(
        """Object.fromEntries([...document.querySelectorAll('.per-task tbody tr')].map(r => [
            r.dataset.task,
            [...r.children].map(c => ({text: c.textContent, nanos: c.dataset.nanos ?? null}))
        ]))"""
    )
    for task in snapshot.tasks:
        cells = shown[task.task_id]
        usage, cost = task.usage, task.cost
        tokens = [c["text"].replace(",", "") for c in cells[2:7]]
        assert tokens == [
            str(usage.input_tokens),
            str(usage.cache_read_tokens),
            str(usage.cache_write_tokens + usage.cache_write_one_hour_tokens),
            str(usage.output_tokens),
            str(usage.reasoning_tokens),
        ]
        actual, reference, savings = cells[7], cells[8], cells[9]
        if cost.unpriced:
            assert actual == {"text": "unpriced", "nanos": ""}
            assert savings["text"] == "unpriced"
        else:
            assert actual["nanos"] == str(cost.actual.total_nanos)
            assert savings["nanos"] == str(cost.savings_nanos)
        assert reference["nanos"] == str(cost.reference.total_nanos)
        assert actual["text"].startswith("≈") == cost.estimated
    assert (
        shown["hosted"][7]["text"].startswith("$") and shown["hosted"][9]["text"][0] in "+$" + MINUS
    )
    models = browser.eval(
        """Object.fromEntries([...document.querySelectorAll('.model-totals tbody tr')].map(r => [
            r.dataset.model, [...r.querySelectorAll('.money')].map(c => c.dataset.nanos)]))"""
    )
    assert models == {
        f"{m.backend}/{m.model}": [
            str(m.cost_nanos),
            str(m.reference_cost_nanos),
            str(m.savings_nanos),
        ]
        for m in snapshot.totals.by_model
    }
    assert browser.eval("document.getElementById('spend').dataset.nanos") == str(
        snapshot.totals.cost_nanos
    )
    browser.screenshot(artifacts / "costs.png", full_page=True)


def test_a_running_task_shows_its_live_cost_from_the_server(
    web_server: ServerThread, browser: Browser
) -> None:
    _, stub = stub_for(web_server.address)
    started = event("r", 1, "started", backend="anthropic", model="claude-sonnet-4-5")
    report(stub, "sc", [started])
    browser.goto(url(web_server))
    wait_live(browser)
    usage = events_pb.Usage(model="claude-sonnet-4-5", input_tokens=40000, output_tokens=900)
    retry = event("r", 2, "status", status=events_pb.TASK_STATUS_RETRYING, usage=usage)
    report(stub, "sc", [retry])
    task = stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=["r"])).tasks[0]
    assert task.cost.actual.total_nanos > 0
    cost = "document.querySelector(\"tr.task[data-task='r'] .c-cost\")"
    browser.wait(f"{cost}.dataset.nanos === {json.dumps(str(task.cost.actual.total_nanos))}")
    assert browser.eval(f"{cost}.classList.contains('live')") is True
    browser.wait(
        "document.getElementById('running-cost').dataset.nanos === "
        + json.dumps(str(task.cost.actual.total_nanos))
    )


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    path = str(tmp_path / "tokens.json")
    return {
        "file": path,
        "sidecar": create_token(path, Role.SIDECAR, sidecar_id="sc1"),
        "viewer": create_token(path, Role.VIEWER),
    }


def test_with_auth_on_the_page_asks_for_a_token_and_works_with_one(
    server_factory: ServerFactory, tokens: dict[str, str], browser: Browser, artifacts: Path
) -> None:
    server = server_factory(http_port=free_port(), auth_file=tokens["file"])
    _, stub = stub_for(server.address)
    metadata = [("authorization", f"Bearer {tokens['sidecar']}")]
    messages = [service_pb.ProgressReport(sidecar_id="sc1", events=task_events("secret", 1))]
    stub.ReportProgress(iter(messages), metadata=metadata, timeout=10)
    browser.goto(url(server))
    browser.wait(
        "document.getElementById('auth').open"
        " && document.getElementById('conn').textContent === 'token needed'"
    )
    assert browser.eval("document.querySelectorAll('tr.task').length") == 0
    browser.fill("#token-input", "es_nope_wrong")
    browser.click("#token-submit")
    browser.wait("document.querySelector('.auth-message').textContent.includes('refused')")
    browser.screenshot(artifacts / "token-refused.png")
    browser.fill("#token-input", tokens["viewer"])
    browser.click("#token-submit")
    browser.wait("document.querySelectorAll('tr.task').length === 1", 15)
    assert not browser.eval("document.getElementById('auth').open")


@pytest.fixture
def web_process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "execstream.db", "--heartbeat-interval", "1s", http=True
    ).start()
    yield server
    server.kill()


def test_a_server_restart_mid_stream_loses_and_repeats_nothing_on_the_page(
    web_process: ServerProcess, browser: Browser
) -> None:
    channel, stub = stub_for(web_process.address)
    report(stub, "sc", [event("t", 1, "started")])
    browser.goto(f"http://127.0.0.1:{web_process.http_port}/#/task/t")
    body = PANEL.format(task="t")
    seq = 2
    for i in range(30):
        report(stub, "sc", [event("t", seq, "stdout", text=f"before {i}\n")])
        seq += 1
    browser.wait(f'document.querySelectorAll("{body} > [data-rev]").length === 31')
    channel.close()
    web_process.terminate()
    browser.wait("document.getElementById('conn').textContent === 'reconnecting…'", 15)
    web_process.start()
    channel, stub = stub_for(web_process.address)
    for i in range(30):
        report(stub, "sc", [event("t", seq, "stdout", text=f"after {i}\n")])
        seq += 1
    report(stub, "sc", [event("t", seq, "finished")])
    browser.wait(f'document.querySelectorAll("{body} > [data-rev]").length >= 62', 60)
    wait_live(browser)
    nodes = panel_nodes(browser, "t")
    texts = [n["text"] for n in nodes if n["cls"] == "out-stdout"]
    assert texts == [f"before {i}\n" for i in range(30)] + [f"after {i}\n" for i in range(30)]
    revs = [int(n["rev"]) for n in nodes if n["rev"]]
    assert revs == sorted(set(revs)) and len(revs) == 62
    assert rows(browser)["t"]["status"] == "succeeded"
    channel.close()


def second_attempt(ev: events_pb.ExecutionEvent) -> events_pb.ExecutionEvent:
    ev.attempt = 2
    return ev


def tour_events() -> dict[str, list[events_pb.ExecutionEvent]]:
    """A few tasks as real sidecars report them: shell, local model, hosted agent."""
    sonnet = "claude-sonnet-4-5"
    agent = [
        event(
            "review-pr-412",
            1,
            "started",
            backend="anthropic",
            model=sonnet,
            labels={"team": "web"},
            description="review PR #412",
        ),
        event("review-pr-412", 2, "token", text="Reading the diff. "),
        event(
            "review-pr-412",
            3,
            "tool_call",
            tool_name="read_file",
            arguments_summary="src/cache.py",
            result_summary="212 lines",
            iteration=1,
        ),
        event("review-pr-412", 4, "token", text="The cache key ignores the locale, "),
        event("review-pr-412", 5, "token", text="so two users can see each other's page.\n"),
        event("review-pr-412", 6, "error", message="overloaded", code="http_529", retryable=True),
        event(
            "review-pr-412",
            7,
            "status",
            status=events_pb.TASK_STATUS_RETRYING,
            message="retrying after http_529",
            usage=events_pb.Usage(model=sonnet, input_tokens=18000, output_tokens=140),
        ),
        second_attempt(event("review-pr-412", 8, "status", status=events_pb.TASK_STATUS_RUNNING)),
        second_attempt(
            event("review-pr-412", 9, "token", text="Suggest adding the locale to the key.")
        ),
        second_attempt(
            event(
                "review-pr-412",
                10,
                "finished",
                usage=events_pb.Usage(
                    model=sonnet, input_tokens=2400, cache_read_tokens=18000, output_tokens=420
                ),
            )
        ),
    ]
    build = [
        event("build-7", 1, "started", backend="shell", description="make test"),
        event("build-7", 2, "stdout", text="building 14 targets\n"),
        event("build-7", 3, "stderr", text="warning: disk is slow\n"),
        event("build-7", 4, "stdout", text="tests: 212 passed\n"),
        event("build-7", 5, "finished", exit_code=0),
    ]
    summary = [
        event("summary", 1, "started", backend="ollama", model="llama3.2:3b"),
        event("summary", 2, "token", text="The build passed."),
        event(
            "summary",
            3,
            "finished",
            usage=events_pb.Usage(model="llama3.2:3b", input_tokens=1200, output_tokens=40),
        ),
    ]
    live = [
        event("draft-notes", 1, "started", backend="ollama", model="qwen2.5:7b"),
        event("draft-notes", 2, "token", text="Release notes: faster cache, "),
    ]
    return {"ci": build, "laptop": summary, "agents": agent, "gpu-box": live}


def test_tour_screenshot(web_server: ServerThread, browser: Browser, artifacts: Path) -> None:
    """The README's picture: a task opened on its cost table and output panel, real data.

    Saved as a test artefact; EXECSTREAM_UPDATE_SCREENSHOT=1 also writes docs/dashboard.png.
    """
    _, stub = stub_for(web_server.address)
    for sidecar, events in tour_events().items():
        report(stub, sidecar, events)
    browser.viewport(1280, 820)
    browser.goto(url(web_server) + "#/task/review-pr-412")
    browser.wait(f"{event_nodes('review-pr-412')}.length === 10")
    browser.wait("document.getElementById('spend').textContent.includes('spent $0.')")
    browser.eval("window.scrollTo(0, 0)")
    shot = browser.screenshot(artifacts / "dashboard.png")
    if os.environ.get("EXECSTREAM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, Path(__file__).resolve().parents[1] / "docs" / "dashboard.png")


def test_a_compacted_cursor_makes_the_page_list_again(tmp_path: Path, browser: Browser) -> None:
    compacting = ("--retain-events", "5", "--compact-interval", "100ms")
    db = tmp_path / "execstream.db"
    web = ServerProcess(db, "--heartbeat-interval", "1s", *compacting, http=True).start()
    try:
        channel, stub = stub_for(web.address)
        report(stub, "sc", task_events("early", 2))
        browser.goto(f"http://127.0.0.1:{web.http_port}/#/task/early")
        wait_live(browser)
        channel.close()
        web.terminate()
        browser.wait("document.getElementById('conn').textContent === 'reconnecting…'", 15)
        # Meanwhile, with the dashboard's port closed, the log moves on and is compacted.
        interlude = ServerProcess(db, *compacting).start()
        channel, stub = stub_for(interlude.address)
        report(stub, "sc", *[task_events(f"later-{i}", 3) for i in range(5)])
        wait_for(lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest()).oldest_revision > 10, 20)
        channel.close()
        interlude.terminate()
        web.start()
        browser.wait("document.querySelectorAll('tr.task').length === 6", 30)
        wait_live(browser)
        assert {r["status"] for r in rows(browser).values()} == {"succeeded"}
        browser.click("tr.task[data-task='early'] button.toggle")  # close the old panel
        open_panel(browser, "early")
        browser.wait(
            f'document.querySelector("{PANEL.format(task="early")} .out-note")'
            "?.textContent.includes('no longer retained')",
        )
    finally:
        web.kill()


def test_a_thousand_tasks_and_a_fast_stream_keep_the_panel_capped(
    web_server: ServerThread, browser: Browser, artifacts: Path
) -> None:
    _, stub = stub_for(web_server.address)
    many = [ev for i in range(1000) for ev in task_events(f"task-{i:04d}", 1)]
    report(stub, "fleet", many[:2000], many[2000:])
    report(stub, "fast", [event("fast", 1, "started")])
    browser.goto(url(web_server) + "#/task/fast")
    browser.wait("document.querySelectorAll('tr.task').length === 1001", 30)
    browser.wait(f"{event_nodes('fast')}.length === 1")
    browser.eval(
        """window.__gaps = []; window.__long = [];
        new PerformanceObserver(l => window.__long.push(...l.getEntries().map(e => e.duration)))
            .observe({type: 'longtask'});
        (function frame(last) { requestAnimationFrame(now => {
            window.__gaps.push(now - last); frame(now); }); })(performance.now());"""
    )
    total, seq = 5000, 2
    while seq <= total + 1:  # about 1,000 events a second, in batches of 100
        batch = [event("fast", s, "token", text=f"t{s} ") for s in range(seq, seq + 100)]
        report(stub, "fast", batch)
        seq += 100
        time.sleep(0.1)
    last = f"t{seq - 1} "
    panel = f'document.querySelector("{PANEL.format(task="fast")}")'
    browser.wait(f"{panel}.lastElementChild?.textContent === {json.dumps(last)}", 30)
    shown = browser.eval(f"{panel}.childElementCount")
    hidden = int(browser.eval("document.querySelector('.output').dataset.hidden"))
    assert shown == 2000 and hidden == (seq - 1) - shown
    note = browser.eval("document.querySelector('.out-hidden').textContent")
    assert note.startswith(f"{hidden:,} earlier entries hidden")
    # Kept for people (speed is never asserted): frame gaps and long tasks of the page.
    frames = browser.eval("({gaps: window.__gaps.slice(1), long_tasks: window.__long})")
    (artifacts / "frames.json").write_text(json.dumps(frames))
