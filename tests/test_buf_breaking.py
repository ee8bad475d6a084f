"""scripts/buf fails on a source-breaking change even after more commits land on top.

Comparing FILE with the previous commit only let a java_package change through once any
other commit followed it. The script runs here on a throwaway clone of this repository
with such a history: a java_package change, then a comment-only commit.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = Path("protos/execstream/v1")


def git(repo: Path, *args: str) -> None:
    who = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "-C", str(repo), *who, *args], check=True, capture_output=True)


def clone(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    subprocess.run(
        ["git", "clone", "-q", "--shared", str(ROOT), str(repo)], check=True, capture_output=True
    )
    # The script and buf's config as they are in this working tree, buf as installed here.
    shutil.copy(ROOT / "scripts" / "buf", repo / "scripts" / "buf")
    shutil.copy(ROOT / "protos" / "buf.yaml", repo / "protos" / "buf.yaml")
    (repo / "tools" / "buf" / "node_modules").symlink_to(ROOT / "tools" / "buf" / "node_modules")
    git(repo, "commit", "-qam", "this tree's scripts/buf", "--allow-empty")
    return repo


def edit(repo: Path, old: str, new: str, message: str) -> None:
    """Replace ``old`` in every contract file that has it (one at least), and commit."""
    edited = 0
    for path in sorted((repo / CONTRACT).glob("*.proto")):
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new, 1))
            edited += 1
    assert edited
    git(repo, "commit", "-qam", message)


def run_buf(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "scripts" / "buf")], capture_output=True, text=True, timeout=600
    )


def test_a_java_package_change_fails_after_a_later_commit(tmp_path: Path) -> None:
    if not (ROOT / "tools" / "buf" / "node_modules" / ".bin" / "buf").exists():
        pytest.fail("buf is not installed: run scripts/dev-setup (npm ci --prefix tools/buf)")
    repo = clone(tmp_path)
    java = 'option java_package = "io.execstream.v1";'
    # In every file, as lint requires of one package.
    edit(repo, java, 'option java_package = "io.execstream.api.v1";', "move the Java package")
    edit(repo, "// The execution progress hub.", "// The execution-progress hub.", "a comment")
    done = run_buf(repo)
    assert done.returncode != 0, done.stdout
    assert "java_package" in done.stdout + done.stderr
