"""Every shell block marked ```` ```sh runnable ```` in README.md and docs/ runs, and passes.

Docs rot when nothing runs them. Each marked block runs with bash (errexit, pipefail) in a
fresh directory against a real server started here; the addresses the docs use (the
defaults, 127.0.0.1:50051 for gRPC and 127.0.0.1:9464 for metrics) are pointed at this
server's free ports. Blocks that start a long-running server are left unmarked on purpose:
the fixture is that server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support.helpers import free_port
from .support.processes import ServerProcess

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```sh runnable[^\n]*\n(.*?)^```", re.M | re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = runnable_blocks()


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    tmp = tmp_path_factory.mktemp("docs")
    metrics_port = free_port()
    server = ServerProcess(tmp / "execstream.db", "--metrics-port", str(metrics_port)).start()
    yield server, metrics_port
    server.kill()


def test_the_docs_have_runnable_blocks() -> None:
    where = {name.split(":")[0] for name, _ in BLOCKS}
    assert "README.md" in where, "the README tour must be runnable"


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_block_runs(
    where: str, block: str, docs_server: tuple[ServerProcess, int], tmp_path: Path
) -> None:
    server, metrics_port = docs_server
    script = block.replace("127.0.0.1:50051", server.address).replace(
        "127.0.0.1:9464", f"127.0.0.1:{metrics_port}"
    )
    env = {
        **os.environ,
        "EXECSTREAM_TARGET": server.address,
        "NO_COLOR": "1",
        # The docs say `execstream ...`: use the one installed beside this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{where} failed ({result.returncode}):\n{script}\n"
        f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
    )
