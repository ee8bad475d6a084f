"""The Java client's documented install works from a clean checkout, offline.

docs/clients-java.md gives the command; it must need neither a running server (the tests
start one: `-DskipTests` leaves them out) nor the network once scripts/dev-setup has run
(every plugin of the lifecycle is pinned and prefetched). It runs on a copy of the sources
without build output, as a fresh checkout has; it installs the client's jar into the local
Maven repository, as the command is meant to.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parent.parent


def documented_install() -> list[str]:
    text = (ROOT / "docs" / "clients-java.md").read_text()
    found = re.search(r"^(mvn -f clients/java/pom\.xml install[^#\n]*)", text, re.MULTILINE)
    assert found, "docs/clients-java.md shows how to install the client"
    return shlex.split(found.group(1))


def test_the_documented_install_works_offline_on_a_clean_checkout(tmp_path: Path) -> None:
    if shutil.which("mvn") is None:
        pytest.fail("mvn is not on PATH (scripts/dev-setup expects Maven on the machine)")
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    ignore = shutil.ignore_patterns("target")
    shutil.copytree(ROOT / "clients" / "java", tmp_path / "clients" / "java", ignore=ignore)
    command = documented_install()
    done = subprocess.run(
        [command[0], "-B", "-q", "-o", *command[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jars = list((tmp_path / "clients" / "java" / "target").glob("execstream-client-*.jar"))
    assert len(jars) == 1
    with zipfile.ZipFile(jars[0]) as jar:
        names = set(jar.namelist())
    assert "io/execstream/client/service_config.json" in names
    assert "io/execstream/v1/ExecutionServiceGrpc.class" in names
