"""The snapshot table uses the width it has, and compact numbers never read ``1000M``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from execstream.cli.snapshot_table import tokens

from .support.cli import cli
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

LONG_ID = "a-very-long-task-identifier-for-the-nightly-benchmark-of-every-model"
LONG_MODEL = "llama3.2:3b-instruct-q4_K_M-with-an-even-longer-local-suffix"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("fit") / "fit.db").start()
    usage = {"input_tokens": 999_999_999, "output_tokens": 888_888_888}
    lines = [
        {"task_id": LONG_ID, "started": {"backend": "ollama", "model": LONG_MODEL}},
        {"task_id": LONG_ID, "finished": {"outcome": "OUTCOME_SUCCEEDED", "usage": usage}},
    ]
    done = cli(proc, "report", stdin="".join(json.dumps(line) + "\n" for line in lines))
    assert done.returncode == 0, done.stderr
    yield proc
    proc.kill()


@pytest.mark.parametrize("columns", [80, 100, 132, 200])
def test_a_shortened_table_is_as_wide_as_the_terminal(server: ServerProcess, columns: int) -> None:
    done = cli(server, "snapshot", env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    (row,) = [line for line in lines if line.lstrip().startswith("a-very-long")]
    assert "…" in row, "the id (and model) had to be shortened"
    assert len(row) == columns


def test_compact_numbers_take_the_next_unit_when_rounding_reaches_1000() -> None:
    assert [tokens(n, True) for n in (999, 9_949, 9_950, 999_499, 999_500)] == [
        "999",
        "9.9k",
        "10k",
        "999k",
        "1.0M",
    ]
    assert tokens(999_999_999, True) == "1.0G"
    assert tokens(999_999_999, False) == "999,999,999"


def test_80_columns_show_a_billion_tokens_as_1_0g(server: ServerProcess) -> None:
    done = cli(server, "snapshot", env={"COLUMNS": "80"})
    (row,) = [line.split() for line in done.stdout.splitlines() if "a-very-long" in line]
    assert "1.0G" in row and "1000M" not in row
