"""Entry point of the ``execstream`` command.

Client commands live in this package. Other installed packages add commands through the
``execstream.commands`` entry-point group (the server adds ``serve``, ``pricing`` and
``token``): each entry names a module with ``add_parser(subparsers)``. So importing the
client never loads server code, and a client-only install simply lacks those commands.
Exit codes: ``exit_codes``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import NoReturn

from rich.markup import escape

from .._version import __version__
from .exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

# One module per client subcommand, each with ``add_parser(subparsers)``.
COMMANDS = ("watch", "snapshot", "run", "report", "run_llm", "health")
PLUGIN_GROUP = "execstream.commands"
# Help lists commands in this order; plugged-in commands not named here come last, by name.
HELP_ORDER = ("serve", *COMMANDS, "pricing", "token")


def command_modules() -> Iterator[ModuleType]:
    """The client's command modules and every installed plugin's, in help order."""
    modules = {name: f"{__package__}.{name}" for name in COMMANDS}
    for entry in entry_points(group=PLUGIN_GROUP):
        modules.setdefault(entry.name, entry.value)
    rank = {name: i for i, name in enumerate(HELP_ORDER)}
    for name in sorted(modules, key=lambda n: (rank.get(n, len(rank)), n)):
        try:
            yield importlib.import_module(modules[name])
        except ImportError:
            if name in COMMANDS:
                raise
            continue  # a plugin whose package is half-installed must not break the client


class OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line naming the command and what is wrong, and a pointer to --help.

    argparse's default prints the whole usage block first, which buries the one line that
    says what to fix; ``--help`` still shows the usage in full.
    """

    def error(self, message: str) -> NoReturn:
        from .consoles import stderr_console
        from .errors import one_line

        line = f"{self.prog}: {one_line(message)} (see {self.prog} --help)"
        stderr_console().print(f"[bold red]error:[/] {escape(line)}")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="execstream",
        description="Stream AI-agent task progress from sidecars to watchers.",
    )
    parser.add_argument("--version", action="version", version=f"execstream {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        module.add_parser(subparsers)
    return parser


def quiet_grpc_core() -> None:
    """Keep gRPC's C core from logging to our stderr (set before grpc is first imported).

    It writes lines such as ``ssl_transport_security.cc:... Handshake failed`` or
    ``add_port.cc:... Failed to add port`` beside our own one-line error, which already
    says what went wrong. ``GRPC_VERBOSITY=error`` (or ``debug``) in the environment wins.
    """
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def main(argv: Sequence[str] | None = None) -> int:
    quiet_grpc_core()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``execstream watch --json | head``): stop quietly, as a
        # shell tool does, and keep Python from complaining when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        from .errors import describe

        message, code = describe(exc)
        if message is None:
            raise
        from .consoles import stderr_console

        stderr_console().print(f"[bold red]error:[/] {message}")
        return code


if __name__ == "__main__":
    sys.exit(main())
