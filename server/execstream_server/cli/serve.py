"""``execstream serve``: run the server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from rich.logging import RichHandler

from execstream_server.cli.failures import one_line_errors


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from execstream_server.config import add_arguments

    parser = subparsers.add_parser(
        "serve",
        help="run the execstream server",
        description="Run the execstream gRPC server. Every flag also reads EXECSTREAM_<FLAG>.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def configure_logging(level: str) -> None:
    """Colour on a terminal; one plain line per record otherwise (files, journald, Docker)."""
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(
        level=level.upper(), format=fmt, datefmt="%Y-%m-%dT%H:%M:%S", handlers=[handler]
    )


@one_line_errors
def run(args: argparse.Namespace) -> int:
    from execstream_server.app import serve
    from execstream_server.config import build_config

    config = build_config(args)
    configure_logging(config.log_level)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(config))
    return uvloop.run(serve(config))
