"""docs/operations.md lists every flag with its environment variable."""

from __future__ import annotations

from pathlib import Path

from execstream_server.config import OPTIONS

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def test_every_flag_and_variable_is_documented() -> None:
    text = DOC.read_text()
    missing = [o.flag for o in OPTIONS if f"`{o.flag}`" not in text or f"`{o.env}`" not in text]
    assert not missing, f"undocumented flags: {missing}"
