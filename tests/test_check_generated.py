"""scripts/check_generated fails whenever the generated files differ from the commit.

It compares against HEAD, not against the index: output that is staged but not committed
(fresh or stale) is still not what CI builds. The generators are replaced by no-ops in a
throwaway repository holding the real script, so only the comparison is tested here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = Path("clients/python/execstream/v1/events_pb2.py")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def throwaway_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "check_generated", repo / "scripts" / "check_generated")
    for generator in ("gen_protos", "gen_go"):
        (repo / "scripts" / generator).write_text("#!/usr/bin/env bash\nexit 0\n")
        (repo / "scripts" / generator).chmod(0o755)
    (repo / GENERATED).parent.mkdir(parents=True)
    (repo / GENERATED).write_text("# generated\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x")
    return repo


def check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "scripts" / "check_generated")], capture_output=True, text=True, timeout=60
    )


def test_a_tree_equal_to_its_commit_passes(tmp_path: Path) -> None:
    assert check(throwaway_repo(tmp_path)).returncode == 0


def test_generated_output_staged_but_not_committed_fails(tmp_path: Path) -> None:
    repo = throwaway_repo(tmp_path)
    (repo / GENERATED).write_text("# generated, then edited\n")
    git(repo, "add", str(GENERATED))
    done = check(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "stale" in done.stderr


def test_a_new_generated_file_staged_but_not_committed_fails(tmp_path: Path) -> None:
    repo = throwaway_repo(tmp_path)
    (repo / GENERATED.with_name("extra_pb2.py")).write_text("# generated\n")
    git(repo, "add", "-A")
    assert check(repo).returncode == 1
