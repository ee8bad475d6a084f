"""``execstream serve``: run the server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from rich.logging import RichHandler

from execstream_server.cli.failures import one_line_errors
from execstream_server.config import ConfigError

if TYPE_CHECKING:
    from execstream_server.config import ServerConfig


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


def check_files(config: ServerConfig) -> None:
    """Read the TLS files and the token file before listening: each problem is one line.

    gRPC would read the TLS files only when it binds the port, and report a bad one as a
    port it cannot use. A token file without tokens is valid but refuses every call, which
    is worth a warning rather than a silent service.
    """
    from execstream.cli.tls_files import check_ca_file, check_key_pair

    from execstream_server.transport.auth import TokenBook

    check_key_pair(("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key), "server")
    if config.tls_client_ca:
        if not config.tls_cert:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        check_ca_file("--tls-client-ca", config.tls_client_ca)
    if config.auth_file and not len(TokenBook.load(config.auth_file)):
        logging.getLogger("execstream").warning(
            "--auth-file %s holds no token: auth is on and every call will be refused "
            "(add one with: execstream token create --auth-file %s)",
            config.auth_file,
            config.auth_file,
        )


@one_line_errors
def run(args: argparse.Namespace) -> int:
    from execstream_server.app import serve
    from execstream_server.config import build_config

    config = build_config(args)
    configure_logging(config.log_level)
    check_files(config)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(config))
    return uvloop.run(serve(config))
