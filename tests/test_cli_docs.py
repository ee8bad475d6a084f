"""The docs and the ``execstream`` command agree: a generated reference, real flags, help."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
from execstream.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
# `execstream CMD [ACTION] ...flags` where a shell command starts (a code span or line, or
# after a pipe, `;`, `&&` or `(`), up to the next shell separator.
_COMMAND = re.compile(r"(?:^|[|;&(]\s*)execstream ([a-z][a-z-]*)((?: [^|;&`()\\]*)?)")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_the_cli_reference_is_fresh() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_every_command_and_action_has_a_description() -> None:
    commands = subcommands(build_parser())
    assert {"serve", "run", "report", "watch", "snapshot", "health", "pricing", "token"} <= set(
        commands
    )
    for name, parser in commands.items():
        assert parser.description, f"execstream {name} --help has no description"
        for action, sub in subcommands(parser).items():
            assert sub.description, f"execstream {name} {action} --help has no description"
    assert {"create", "list", "revoke"} == set(subcommands(commands["token"]))


def test_serve_help_names_values_not_destinations() -> None:
    text = subcommands(build_parser())["serve"].format_help()
    assert "LIMITS__" not in text and "_S " not in text
    assert "--max-id-length N" in text and "--shutdown-grace DURATION" in text


def code_spans(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every code block line and inline code span."""
    spans = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            spans.append((number, line.split(" #")[0].strip()))
        else:
            spans += [(number, span) for span in re.findall(r"`([^`]+)`", line)]
    return spans


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(where, command, flags) for every `execstream CMD --flag ...` in the prose docs."""
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.name == "cli.md":
            continue
        for number, code in code_spans(doc.read_text()):
            for match in _COMMAND.finditer(code):
                words = match.group(2).split()
                if "--" in words:
                    words = words[: words.index("--")]  # what follows is run's command
                used = [
                    w.split("=")[0].strip("[]") for w in words if w.lstrip("[").startswith("--")
                ]
                command = match.group(1)
                if command == "token" and words:
                    command += f" {words[0]}"
                found.append((f"{doc.name}:{number}", command, used))
    return found


@pytest.mark.parametrize(("where", "command", "used"), documented_commands())
def test_documented_flags_exist(where: str, command: str, used: list[str]) -> None:
    parser = build_parser()
    for word in command.split():
        commands = subcommands(parser)
        assert word in commands, f"{where}: execstream {command}: no such command"
        parser = commands[word]
    unknown = [flag for flag in used if flag not in flags(parser)]
    assert not unknown, f"{where}: execstream {command} has no {unknown}"
