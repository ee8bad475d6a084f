"""The import graph runs one way: client <- server; transport -> domain <- stores.

Checked two ways: statically, over every module's imports (so a lazy import inside a
function counts too), and dynamically, by importing the client in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "clients/python/execstream"
SERVER = ROOT / "server/execstream_server"

pytestmark = pytest.mark.unit


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if "_pb2" not in p.name]


def offenders(root: Path, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sources(root):
        for name in imported_modules(path):
            if name.startswith(forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return sorted(found)


def test_the_client_package_imports_nothing_of_the_server() -> None:
    assert offenders(CLIENT, ("execstream_server",)) == []


def test_the_domain_knows_no_transport_no_storage_engine_and_no_prometheus() -> None:
    forbidden = (
        "grpc",
        "sqlite3",
        "redis",
        "prometheus_client",
        "execstream_server.transport",
        "execstream_server.app",
        "execstream_server.cli",
        "execstream_server.store.sqlite",
        "execstream_server.store.redis",
        "execstream_server.store.factory",
    )
    assert offenders(SERVER / "domain", forbidden) == []


def test_stores_do_not_reach_into_the_transport() -> None:
    forbidden = ("grpc", "execstream_server.transport", "execstream_server.app")
    assert offenders(SERVER / "store", forbidden) == []


def test_only_the_metrics_package_imports_prometheus_client() -> None:
    users = [
        path.relative_to(ROOT)
        for path in sources(SERVER)
        if any(name.startswith("prometheus_client") for name in imported_modules(path))
    ]
    package = Path("server/execstream_server/transport/metrics")
    assert users and all(path.parent == package for path in users), users


def test_importing_the_client_and_the_cli_loads_no_server_code() -> None:
    code = (
        "import sys, execstream, execstream.client, execstream.cli, execstream.cli.main;"
        "loaded = sorted(m for m in sys.modules if m.startswith('execstream_server'));"
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# The same concept on both sides of the wire: the server raises it, the client decodes it.
SHARED_NAMES = {"FieldViolation"}


def defined_names(path: Path) -> set[str]:
    """Public classes and type aliases (CamelCase assignments) a module defines."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id[:1].isupper() and not target.id.isupper():
                names.add(target.id)
    return {name for name in names if not name.startswith("_")}


def test_each_name_means_one_thing_across_the_packages() -> None:
    """Two ``TaskReporter``s or two ``Chunk``s send a reader to the wrong one; a type
    shared by several modules is defined once and imported."""
    where: dict[str, list[str]] = {}
    for root in (SERVER, CLIENT):
        for path in sources(root):
            if "/v1/" in path.as_posix():  # generated stubs
                continue
            for name in defined_names(path):
                where.setdefault(name, []).append(str(path.relative_to(ROOT)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert set(twice) <= SHARED_NAMES, twice
