#!/usr/bin/env python3
"""Write docs/cli.md from the ``execstream`` command's own parsers (``--check``: fail if stale).

Each command's section is its ``--help`` as argparse prints it (usage, description, flags), so the
reference cannot drift from the flags: a test (tests/test_cli_docs.py) fails when the
committed file differs from what this script writes. The environment is cleared of
``EXECSTREAM_*`` first, so defaults read from it do not leak into the page.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"
WIDTH = "100"

HEADER = """# The `execstream` command

Generated from the command's parsers by `scripts/gen_cli_docs.py`; do not edit by hand.
[clients.md](clients.md) explains the commands with examples, the exit codes and the
environment variables; [operations.md](operations.md) covers `serve` in depth.
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _section(name: str, parser: argparse.ArgumentParser, level: str) -> list[str]:
    lines = [f"{level} `{name}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for child, sub in _subcommands(parser).items():
        lines += _section(f"{name} {child}", sub, level + "#")
    return lines


def render() -> str:
    for key in [k for k in os.environ if k.startswith("EXECSTREAM_")]:
        del os.environ[key]
    os.environ["COLUMNS"] = WIDTH  # argparse wraps help text to this width
    from execstream.cli.main import build_parser

    parser = build_parser()
    lines = [HEADER, "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subcommands(parser).items():
        lines += _section(f"execstream {name}", sub, "##")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    check = "--check" in sys.argv[1:]
    text = render()
    if check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
