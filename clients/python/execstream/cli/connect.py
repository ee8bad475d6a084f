"""The connection flags every client command shares, defaulting to ``EXECSTREAM_*``."""

from __future__ import annotations

import argparse
import os

from ..client.options import DEFAULT_TARGET, ConnectOptions
from .errors import CommandError
from .exit_codes import EXIT_USAGE
from .tls_files import check_ca_file, check_key_pair


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    env = os.environ.get
    group.add_argument(
        "--target",
        metavar="HOST:PORT",
        default=env("EXECSTREAM_TARGET", DEFAULT_TARGET),
        help=f"server address (env EXECSTREAM_TARGET; default {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--token",
        metavar="TOKEN",
        default=env("EXECSTREAM_TOKEN", ""),
        help="bearer token (env EXECSTREAM_TOKEN)",
    )
    group.add_argument(
        "--tls", action="store_true", help="use TLS with the system roots (env EXECSTREAM_TLS=1)"
    )
    group.add_argument(
        "--ca",
        metavar="FILE",
        default=env("EXECSTREAM_CA", ""),
        help="PEM CA bundle to trust; implies --tls (env EXECSTREAM_CA)",
    )
    group.add_argument(
        "--cert",
        metavar="FILE",
        default=env("EXECSTREAM_CERT", ""),
        help="PEM client certificate, for mTLS (env EXECSTREAM_CERT)",
    )
    group.add_argument(
        "--key",
        metavar="FILE",
        default=env("EXECSTREAM_KEY", ""),
        help="PEM private key of --cert (env EXECSTREAM_KEY)",
    )


def options_from(args: argparse.Namespace) -> ConnectOptions:
    """The connection the flags describe, checked: a set-up that cannot work is exit 2.

    The TLS files are read now (``tls_files``), before any connection is tried, so a
    missing file or a key of another certificate is named instead of retried as an
    unreachable server.
    """
    if not args.target.strip():
        where = (
            "EXECSTREAM_TARGET"
            if os.environ.get("EXECSTREAM_TARGET") == args.target
            else "--target"
        )
        raise CommandError(
            f"{where} is empty: give the server's HOST:PORT (default {DEFAULT_TARGET})", EXIT_USAGE
        )
    check_key_pair(("--cert", args.cert), ("--key", args.key), "client")
    if args.ca:
        check_ca_file("--ca", args.ca)
    return ConnectOptions.from_env(
        target=args.target,
        token=args.token,
        tls=True if args.tls else None,  # unset: EXECSTREAM_TLS decides
        ca_file=args.ca,
        cert_file=args.cert,
        key_file=args.key,
    )
