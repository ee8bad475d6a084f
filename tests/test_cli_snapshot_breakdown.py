"""``execstream snapshot``: totals by a label's values (--group-by-label) and the budgets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .support.cli import cli
from .support.processes import ServerProcess

pytestmark = pytest.mark.server
BUDGETS = """
[budgets.research-monthly]
amount_usd = "0.05"
period = "month"
labels = { team = "research" }
"""
# claude-opus-5-5: $20 per million output tokens.
TASKS = [("r1", "research", 2000), ("r2", "research", 500), ("i1", "infra", 1000)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("breakdown")
    (directory / "budgets.toml").write_text(BUDGETS)
    proc = ServerProcess(directory / "x.db", "--budgets", str(directory / "budgets.toml"))
    proc.start()
    lines = []
    for task, team, tokens in TASKS:
        started = {"backend": "anthropic", "model": "claude-opus-5-5", "labels": {"team": team}}
        lines.append({"task_id": task, "started": started})
        usage = {"output_tokens": tokens}
        lines.append(
            {"task_id": task, "finished": {"outcome": "OUTCOME_SUCCEEDED", "usage": usage}}
        )
    done = cli(
        proc, "report", "--sidecar", "laptop", stdin="".join(json.dumps(x) + "\n" for x in lines)
    )
    assert done.returncode == 0, done.stderr
    yield proc
    proc.kill()


def snapshot(server: ServerProcess, *args: str) -> list[str]:
    done = cli(server, "snapshot", *args, env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    return lines


def row(lines: list[str], first_cell: str) -> list[str]:
    (found,) = [line.split() for line in lines if line.split()[:1] == [first_cell]]
    return found


def test_group_by_label_prints_the_totals_of_each_value(server: ServerProcess) -> None:
    lines = snapshot(server, "--group-by-label", "team")
    assert any(line.startswith("by team") for line in lines), lines
    research = row(lines, "research")
    assert research[1] == "2" and "$0.0500" in research  # r1 + r2: 2,500 tokens
    assert row(lines, "infra")[1] == "1" and "$0.0200" in row(lines, "infra")


def test_the_budgets_are_shown_with_their_spend(server: ServerProcess) -> None:
    lines = snapshot(server)
    budget = row(lines, "research-monthly")
    assert "$0.0500" in budget and "100%" in budget, budget
    assert not any(line.startswith("by ") for line in lines), "no label asked for"


def test_json_carries_by_label(server: ServerProcess) -> None:
    done = cli(server, "snapshot", "--json", "--group-by-label", "team")
    body = json.loads(done.stdout)
    assert {row["value"] for row in body["totals"]["by_label"]} == {"research", "infra"}
    assert body["budgets"][0]["name"] == "research-monthly"
