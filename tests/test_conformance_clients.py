"""Every client plays the one conformance scenario against a real server (tests/conformance).

Per language: a fresh ``execstream serve`` (auth on, the scenario's fixed price table), the
language's runner started with ``--target/--scenario/--token``, the harness's steps done
when the runner hands them over (kill; start again, after committing events with a client
of its own while the runner's watches are down, on the same store or a new one), and the
runner's result compared with expected.json after the normalisation the README lists.
A language whose toolchain is missing fails: scripts/dev-setup installs every one.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .conformance.harness import CONFORMANCE, ROOT, SCENARIO, RunnerProcess, Stores, normalise
from .conformance.harness import play as play_scenario

pytestmark = pytest.mark.server


@dataclasses.dataclass(frozen=True)
class RunnerSpec:
    """How to build and start one language's runner (commands run from the repo root)."""

    toolchain: tuple[str, ...]  # programs that must be on PATH
    build: tuple[tuple[str, ...], ...]  # run once per session, in order
    command: tuple[str, ...]


RUNNERS: dict[str, RunnerSpec] = {
    "go": RunnerSpec(
        toolchain=("go",),
        build=(("go", "build", "-C", "clients/go", "-o", "bin/conformance", "./cmd/conformance"),),
        command=("clients/go/bin/conformance",),
    ),
    "java": RunnerSpec(
        # -o: scripts/dev-setup prefetched every Maven artifact; nothing downloads here.
        toolchain=("java", "mvn"),
        build=(("mvn", "-B", "-q", "-o", "-f", "clients/java/pom.xml", "process-test-classes"),),
        command=("clients/java/scripts/run-conformance",),
    ),
    "python": RunnerSpec(
        toolchain=(),
        build=(),
        command=(sys.executable, str(CONFORMANCE / "run_python.py")),
    ),
    "typescript": RunnerSpec(
        toolchain=("node", "npm"),
        build=(("npm", "run", "--silent", "build", "--prefix", "clients/node"),),
        command=("node", "clients/node/dist/conformance/runner.js"),
    ),
}

_built: dict[str, None] = {}


def build_runner(language: str, spec: RunnerSpec) -> None:
    missing = [tool for tool in spec.toolchain if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{language}: {', '.join(missing)} not on PATH (scripts/dev-setup installs it)")
    if language in _built:
        return
    for command in spec.build:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"{language}: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    _built[language] = None


def admin_token(auth_file: Path) -> str:
    create = ["token", "create", "--auth-file", str(auth_file), "--role", "admin"]
    done = subprocess.run(
        [sys.executable, "-m", "execstream", *create],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[0]


def pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True).splitlines()


def fail(why: str) -> NoReturn:
    pytest.fail(why)


def run_scenario(command: list[str], directory: Path) -> dict[str, Any]:
    """Play the scenario with a runner against fresh stores; the normalised result."""
    auth_file = directory / "tokens.toml"
    token = admin_token(auth_file)
    prices = str(CONFORMANCE / "prices.toml")
    stores = Stores(directory, token, "--auth-file", str(auth_file), "--pricing", prices)
    stores.start()
    arguments = ["--target", stores.address, "--scenario", str(SCENARIO), "--token", token]
    runner = RunnerProcess([*command, *arguments], directory / "runner.log", fail)
    try:
        steps = json.loads(SCENARIO.read_text())["steps"]
        return normalise(play_scenario(runner, stores, steps))
    finally:
        runner.stop()
        stores.kill()


@pytest.mark.parametrize("language", sorted(RUNNERS))
def test_client_plays_the_conformance_scenario(language: str, tmp_path: Path) -> None:
    spec = RUNNERS[language]
    build_runner(language, spec)
    result = run_scenario(list(spec.command), tmp_path)
    expected = json.loads((CONFORMANCE / "expected.json").read_text())
    if result != expected:
        diff = difflib.unified_diff(pretty(expected), pretty(result), "expected", language, n=2)
        pytest.fail(f"{language} differs from expected.json:\n" + "\n".join(diff))
