"""The repository stands on its own: nothing in it points at notes or history outside it.

A maintainer who clones the repository has only what is in it; a comment that sends them
to a design note kept elsewhere, or to the number of an issue in some tracker, sends them
looking for something they cannot find. docs/architecture.md is where such knowledge lives.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(
    r"DESIGN\.md|STYLE\.md|\.\./shared\b|\bthe seed'?s?\b|\bissue #?\d+\b|\b(first|second) wave\b",
    re.IGNORECASE,
)
# Third-party files we vendor as they are.
VENDORED = ("protos/google/",)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name.decode()
        if name.decode().startswith(VENDORED) or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" not in data[:8192]:
            files.append(path)
    return files


def test_nothing_refers_to_notes_or_history_outside_the_repository() -> None:
    found = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and path.name != "test_stands_alone.py":
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert found == []
