"""``execstream health``: the gRPC health check, for container HEALTHCHECKs and probes.

Exit 0 when the server says SERVING, 1 when it answers anything else (NOT_SERVING while it
starts or drains, an unknown service), 3 when it cannot be reached in ``--timeout`` and 2
when the TLS set-up cannot work, as for every command; the one line on stderr says why.
"""

from __future__ import annotations

import argparse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.markup import escape

from ..client.errors import refused
from .connect import add_connection_args, options_from
from .consoles import stderr_console, stdout_console
from .errors import one_line
from .exit_codes import EXIT_FAILED
from .readiness import describe_failure


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "health",
        help="check the server's gRPC health (exit 0 serving, 1 not, 3 unreachable)",
        description="Ask the server's standard gRPC health service (open without a token). "
        "Exits 0 when SERVING, 1 when the server answers anything else, 3 when it cannot "
        "be reached within --timeout: for container HEALTHCHECKs and probes.",
    )
    parser.add_argument(
        "--service",
        metavar="NAME",
        default="",
        help="service to check (default: the whole server; e.g. execstream.v1.ExecutionService)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=3.0,
        metavar="SECONDS",
        help="give up after this long (more than 0; default %(default)g)",
    )
    add_connection_args(parser)
    parser.set_defaults(func=run)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text} is not more than 0 seconds")
    return value


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    err = stderr_console()
    with options.channel() as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service),
                metadata=options.metadata,
                timeout=args.timeout,
            )
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                line, exit_code = describe_failure(options, error)
                err.print(f"[bold red]unhealthy:[/] {escape(line)}")
                return exit_code
            what = one_line(str(refused(error)))
            if code == grpc.StatusCode.NOT_FOUND and args.service:
                what += f": the server has no service {args.service!r}"
            err.print(f"[bold red]unhealthy:[/] {escape(what)}")
            return EXIT_FAILED
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status == health_pb2.HealthCheckResponse.SERVING:
        stdout_console().print(f"[green]{status}[/] {escape(options.target)}")
        return 0
    err.print(f"[bold red]unhealthy:[/] {escape(options.target)} is {status}")
    return EXIT_FAILED
