"""``execstream serve``: run the server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging

from rich.logging import RichHandler


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
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False, markup=False)],
    )


def run(args: argparse.Namespace) -> int:
    from execstream_server.app import serve
    from execstream_server.config import build_config

    config = build_config(args)
    configure_logging(config.log_level)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    return 0
