"""``execstream snapshot``: totals of the rows shown, 80 columns without cut money, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from execstream.cli.snapshot_csv import HEADER, write_csv
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.cli import cli, state
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
# (task, model, usage): a dear task, a cheap one with cache and reasoning, an unpriced one.
TASKS = [
    ("dear", "claude-opus-4-1", {"input_tokens": 123456789, "output_tokens": 9876543}),
    (
        "cheap",
        "claude-haiku-4-5",
        {
            "input_tokens": 1200,
            "cache_read_tokens": 50000,
            "cache_write_tokens": 3000,
            "output_tokens": 800,
            "reasoning_tokens": 300,
        },
    ),
    ("mystery", "no-such-model", {"input_tokens": 10, "output_tokens": 5}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("snapshot") / "snapshot.db").start()
    lines = []
    for task, model, usage in TASKS:
        started = {"backend": "claude", "model": model, "labels": {"team": "infra"}}
        lines.append({"task_id": task, "started": started})
        lines.append(
            {"task_id": task, "finished": {"outcome": "OUTCOME_SUCCEEDED", "usage": usage}}
        )
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    done = cli(proc, "report", "--sidecar", "laptop", stdin=stdin)
    assert done.returncode == 0, done.stderr
    cli(proc, "run", "--task", "other", "--", "true")
    yield proc
    proc.kill()


def table(server: ServerProcess, columns: int, *args: str) -> list[str]:
    done = cli(server, "snapshot", *args, env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def row(lines: list[str], first_cell: str) -> list[str]:
    (found,) = [line.split() for line in lines if line.split()[:1] == [first_cell]]
    return found


def test_a_filtered_table_totals_the_rows_shown(server: ServerProcess) -> None:
    lines = table(server, 200, "--task", "cheap", "--task", "mystery")
    assert lines[0].startswith("execstream snapshot at revision ")
    assert lines[0].rstrip().endswith("· 2 of 4 tasks")
    total = row(lines, "total")
    assert total[1:3] == ["2", "tasks"]
    assert "1,210" in total  # input tokens of the two rows
    cheap_cost = state(server, "cheap").cost.actual.total_nanos
    assert f"${Decimal(cheap_cost) / 10**9:.4f}" in total
    assert lines[-1] == "1 unpriced task (no price) not in the cost totals"

    nothing = table(server, 200, "--task", "nosuch")
    assert row(nothing, "total")[1:3] == ["0", "tasks"]


def test_80_columns_fit_and_keep_money_whole(server: ServerProcess) -> None:
    lines = table(server, 80)
    assert max(len(line) for line in lines) <= 80
    dear = row(lines, "dear")
    assert "$0.…" not in " ".join(lines) and "…" not in "".join(dear[3:])
    cost = state(server, "dear").cost
    assert f"${Decimal(cost.actual.total_nanos) / 10**9:,.2f}" in dear
    assert f"-${Decimal(-cost.savings_nanos) / 10**9:,.2f}" in dear
    assert lines[-2].startswith("tokens: 123M in · 50k cache read · 3.0k cache write · 9.9M out")


def test_a_wide_terminal_shows_every_token_bucket(server: ServerProcess) -> None:
    lines = table(server, 250)
    header = lines[2].split()
    for column in ("sidecar", "backend", "cache", "r/w", "reasoning", "reference", "time"):
        assert column in header
    cheap = row(lines, "cheap")
    assert cheap[5:9] == ["1,200", "50,000/3,000", "800", "300"]


def test_csv_has_the_documented_columns_and_exact_money(server: ServerProcess) -> None:
    done = cli(server, "snapshot", "--csv")
    assert done.returncode == 0, done.stderr
    records = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    assert tuple(records[0]) == HEADER
    by_task = {record["task_id"]: record for record in records}
    assert set(by_task) == {"dear", "cheap", "mystery", "other"}
    cheap = by_task["cheap"]
    expected = state(server, "cheap")
    assert int(cheap["cost_nanos"]) == expected.cost.actual.total_nanos
    assert Decimal(cheap["cost_usd"]) * 10**9 == expected.cost.actual.total_nanos
    assert int(cheap["savings_nanos"]) == expected.cost.savings_nanos
    assert (cheap["cache_read_tokens"], cheap["reasoning_tokens"]) == ("50000", "300")
    labels = json.loads(cheap["labels"])
    assert labels.pop("execstream.invocation")  # report marks each task it starts
    assert labels == {"team": "infra"}
    assert cheap["status"] == "SUCCEEDED" and cheap["finished_time"].endswith("Z")
    mystery = by_task["mystery"]
    assert (mystery["unpriced"], mystery["cost_usd"], mystery["cost_nanos"]) == ("true", "", "")
    assert by_task["other"]["exit_code"] == "0"
    assert len({record["snapshot_revision"] for record in records}) == 1


def test_the_docs_list_the_csv_columns_in_order() -> None:
    docs = (ROOT / "docs" / "clients.md").read_text()
    section = docs.split("### Per-task cost in a spreadsheet or a warehouse", 1)[1]
    listed = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert tuple(listed[: len(HEADER)]) == HEADER


def test_csv_shows_a_running_tasks_pending_usage_update_after_the_revision() -> None:
    snapshot = service_pb.Snapshot(revision=7)
    running = snapshot.tasks.add(task_id="live", status=events_pb.TASK_STATUS_RUNNING)
    running.cost.actual.total_nanos = 1_000
    running.interim.attempt = 1
    running.interim.cost.actual.total_nanos = 2_500
    snapshot.tasks.add(task_id="done", status=events_pb.TASK_STATUS_SUCCEEDED)
    out = io.StringIO(newline="")
    write_csv(snapshot, out)
    live, done = csv.DictReader(io.StringIO(out.getvalue(), newline=""))
    after = HEADER[HEADER.index("snapshot_revision") :]
    assert after[:3] == ("snapshot_revision", "interim_cost_usd", "interim_cost_nanos")
    assert (live["cost_nanos"], live["interim_cost_nanos"]) == ("1000", "2500")
    assert live["interim_cost_usd"] == "0.0000025"
    assert (done["interim_cost_usd"], done["interim_cost_nanos"]) == ("", "")
