"""Bad usage: one line naming what to fix, exit 2, nothing started.

argparse's own errors and values the commands check themselves (timeouts), through the real
entry point, in this process: none of them gets as far as a server.
"""

from __future__ import annotations

import pytest
from execstream.cli.main import main


def execstream(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``execstream ARGS`` run here; argparse's exit too."""
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("run", "--wait", "soon", "--", "true"),
            "execstream run: argument --wait: 'soon' is not a number of seconds "
            "(see execstream run --help)",
        ),
        (
            ("health", "--timeout", "0"),
            "execstream health: argument --timeout: 0 is not more than 0 seconds "
            "(see execstream health --help)",
        ),
        (
            ("health", "--timeout", "-1"),
            "execstream health: argument --timeout: -1 is not more than 0 seconds "
            "(see execstream health --help)",
        ),
        (
            ("token", "list"),
            "execstream token list: the following arguments are required: --auth-file "
            "(see execstream token list --help)",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], line: str
) -> None:
    assert execstream(capsys, *args) == (2, "", f"error: {line}\n")
