"""The Dockerfile, checked without a Docker engine (none runs on our machines).

What can go wrong in a Dockerfile without an engine to catch it: a COPY of a path that moved,
an entry point or health check naming a command the package no longer has, an environment
variable the server does not read, and a runtime install that needs something the wheel lacks.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from execstream_server.config import OPTIONS

from .support.helpers import free_port
from .support.server_thread import ServerThread

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.server


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [args for name, args in self.instructions if name == op]


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Instructions per stage, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key] = value
        elif op == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(name, parts[0]))
        else:
            stages[-1].instructions.append((op, rest))
    return args, stages


ARGS, STAGES = parse(ROOT / "Dockerfile")
RUNTIME = STAGES[-1]


def exec_form(args: str) -> list[str]:
    match = re.search(r"\[(.*)\]", args)
    assert match, f"use the exec form (JSON array): {args}"
    return re.findall(r'"([^"]*)"', match.group(1))


def test_multi_stage_with_a_pinned_base() -> None:
    assert len(STAGES) >= 2
    for stage in STAGES:
        image = ARGS.get(stage.base.strip("${}"), stage.base)
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", image), image


def test_every_copied_path_exists() -> None:
    for stage in STAGES:
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"


def test_runtime_runs_as_a_non_root_user_with_a_data_volume() -> None:
    users = RUNTIME.all("USER")
    assert users and users[-1] not in ("root", "0")
    assert RUNTIME.all("VOLUME")
    assert not any("apt-get" in run or "gcc" in run for run in RUNTIME.all("RUN"))


def test_environment_names_are_real_options_and_ports_are_exposed() -> None:
    known = {option.env for option in OPTIONS}
    env: dict[str, str] = {}
    for args in RUNTIME.all("ENV"):
        env.update(re.findall(r"(\w+)=(\S+)", args))
    server_env = {k: v for k, v in env.items() if k.startswith("EXECSTREAM_")}
    assert set(server_env) <= known, set(server_env) - known
    exposed = {port for args in RUNTIME.all("EXPOSE") for port in args.split()}
    assert {server_env["EXECSTREAM_PORT"], server_env["EXECSTREAM_METRICS_PORT"]} <= exposed
    health = exec_form(RUNTIME.all("HEALTHCHECK")[0])
    assert health[-1].endswith(f":{server_env['EXECSTREAM_PORT']}")


CHECK_REQUIREMENTS = """
import sys
from importlib.metadata import requires, version
from packaging.requirements import Requirement

extras = ["", *sys.argv[1:]]
for line in requires("execstream") or []:
    req = Requirement(line)
    if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
        continue
    assert req.specifier.contains(version(req.name), prereleases=True), line
"""


def site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime stage's install step, in a fresh virtualenv, from the built wheel.

    Dependencies come from this machine's site-packages (nothing downloads in tests); the
    package itself must come from the wheel, so missing package data shows up here.
    """
    tmp = tmp_path_factory.mktemp("image")
    wheels = tmp / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        timeout=240,
    )
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The dependencies are this interpreter's (in a virtualenv or not): its site-packages
    # directories go on the new venv's path. A directory named in a .pth file has its own
    # .pth files ignored, so the editable checkout's import hook stays out.
    (site_packages(venv) / "_test_dependencies.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith(("site-packages", "dist-packages"))) + "\n"
    )
    install = next(run for run in RUNTIME.all("RUN") if "pip install" in run)
    spec = re.search(r'"(execstream[^"]*)"', install)
    assert spec, install
    # The editable checkout this suite runs from is installed in those site-packages and
    # would satisfy the requirement, so the package is forced in from the wheel; its
    # dependencies must then all be satisfied, as they are from the image's wheel directory.
    python = str(venv / "bin/python")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "--ignore-installed",
            "--no-deps",
            spec.group(1),
        ],
        check=True,
        timeout=240,
    )
    extras = re.search(r"\[([^\]]*)\]", spec.group(1))
    subprocess.run(
        [python, "-c", CHECK_REQUIREMENTS, *(extras.group(1).split(",") if extras else [])],
        check=True,
        timeout=120,
    )
    return venv


def test_the_wheel_carries_its_data_files(installed: Path) -> None:
    wheel = next((installed.parent / "wheels").glob("execstream-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "execstream_server/domain/default_prices.toml" in names
    assert "execstream/py.typed" in names and "execstream_server/py.typed" in names
    assert any(n.startswith("execstream/v1/") and n.endswith(".pyi") for n in names)
    lua = [n for n in names if n.endswith(".lua")]
    redis_modules = [n for n in names if n.startswith("execstream_server/store/redis")]
    assert lua or not redis_modules, "the Redis store's Lua scripts are missing from the wheel"


def test_entrypoint_and_healthcheck_work_from_the_installed_package(
    installed: Path, server_factory: Callable[..., ServerThread]
) -> None:
    python = str(installed / "bin/python")
    where = subprocess.run(
        [python, "-c", "import execstream, execstream_server; print(execstream_server.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed) in where, f"not the wheel's copy: {where}"

    entry = exec_form(RUNTIME.all("ENTRYPOINT")[0]) + exec_form(RUNTIME.all("CMD")[0])
    script = str(installed / "bin" / entry[0])
    result = subprocess.run([script, *entry[1:], "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

    health = exec_form(RUNTIME.all("HEALTHCHECK")[0])
    server = server_factory()
    command = [str(installed / "bin" / health[0]), *health[1:-1], server.address]
    up = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    command[-1] = f"127.0.0.1:{free_port()}"
    down = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert down.returncode != 0
    assert "Traceback" not in down.stderr
