"""``snapshot --csv`` for loads: fixed-notation durations that match the times, the revisions
an incremental load needs, and the documented SQLite snippet on an empty selection."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from execstream.cli.snapshot_csv import HEADER

from .support.cli import cli, state
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
# (task, started, finished): 250 µs apart; 200 ns apart (within one microsecond).
TIMED = [
    ("quarter-ms", "2026-01-01T00:00:00.000100Z", "2026-01-01T00:00:00.000350Z"),
    ("sub-micro", "2026-01-01T00:00:01.000000100Z", "2026-01-01T00:00:01.000000300Z"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("csv") / "csv.db").start()
    lines = []
    for task, started, finished in TIMED:
        lines.append({"task_id": task, "time": started, "started": {"backend": "shell"}})
        lines.append(
            {"task_id": task, "time": finished, "finished": {"outcome": "OUTCOME_SUCCEEDED"}}
        )
    done = cli(proc, "report", stdin="".join(json.dumps(line) + "\n" for line in lines))
    assert done.returncode == 0, done.stderr
    yield proc
    proc.kill()


def records(server: ServerProcess, *args: str) -> dict[str, dict[str, str]]:
    done = cli(server, "snapshot", "--csv", *args)
    assert done.returncode == 0, done.stderr
    return {r["task_id"]: r for r in csv.DictReader(io.StringIO(done.stdout, newline=""))}


def test_durations_are_fixed_notation_and_match_the_times_written(server: ServerProcess) -> None:
    rows = records(server)
    quarter, sub = rows["quarter-ms"], rows["sub-micro"]
    assert (quarter["started_time"], quarter["finished_time"]) == (
        "2026-01-01T00:00:00.000100Z",
        "2026-01-01T00:00:00.000350Z",
    )
    assert quarter["duration_s"] == "0.000250"
    assert sub["started_time"] == sub["finished_time"] == "2026-01-01T00:00:01.000000Z"
    assert sub["duration_s"] == "0.000000"
    assert all(re.fullmatch(r"-?\d+\.\d{6}", r["duration_s"]) for r in rows.values())


def test_each_row_has_the_tasks_last_revision_and_seq_at_the_end(server: ServerProcess) -> None:
    assert HEADER[-2:] == ("last_revision", "last_seq")  # added after the interim cost
    assert HEADER.index("interim_cost_nanos") < HEADER.index("last_revision")
    for task, row in records(server).items():
        found = state(server, task)
        assert (int(row["last_revision"]), int(row["last_seq"])) == (
            found.last_revision,
            found.last_seq,
        )
        assert int(row["last_revision"]) <= int(row["snapshot_revision"])


def sqlite_snippet() -> str:
    docs = (ROOT / "docs" / "clients.md").read_text()
    blocks: list[str] = re.findall(r"```sh runnable\n(.*?)```", docs, re.S)
    (block,) = [b for b in blocks if "sqlite3" in b]
    return block


def test_the_documented_sqlite_load_runs_on_an_empty_selection(
    server: ServerProcess, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "EXECSTREAM_TARGET": server.address,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # No task here failed: the selection is empty, yet the load must run.
    script = sqlite_snippet().replace("--status succeeded --status failed", "--status failed")
    assert "--status failed" in script
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tasks.csv").read_text().startswith("task_id,")
