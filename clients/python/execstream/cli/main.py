"""Entry point of the ``execstream`` command.

Exit codes: 0 success; 1 the operation failed (a task or check failed, the server said no);
2 bad usage or configuration; 3 the server could not be reached; 130 interrupted; 141 the
output pipe closed. ``run`` exits with its command's code; ``health`` only with 0 or 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from rich.console import Console

from .._version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report it

# One module per subcommand, each with ``add_parser(subparsers)``; help lists them in this order.
COMMANDS = ("serve", "watch", "snapshot", "run", "report", "run_llm", "health", "pricing", "token")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execstream",
        description="Stream AI-agent task progress from sidecars to watchers.",
    )
    parser.add_argument("--version", action="version", version=f"execstream {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    err = Console(stderr=True, soft_wrap=True)  # one line, however narrow
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
        err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
        return code


if __name__ == "__main__":
    sys.exit(main())
