"""``execstream health``: the gRPC health check, for container HEALTHCHECKs and probes.

Exit 0 when the server says SERVING, 1 otherwise (not serving, unreachable, timed out): a
probe only needs healthy or not, and the one line on stderr says why.
"""

from __future__ import annotations

import argparse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console

from .connect import add_connection_args, options_from


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "health", help="check the server's gRPC health (exit 0 serving, 1 not)"
    )
    parser.add_argument(
        "--service",
        default="",
        help="service to check (default: the whole server; e.g. execstream.v1.ExecutionService)",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    err = Console(stderr=True, soft_wrap=True)
    with options.channel() as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service),
                metadata=options.metadata,
                timeout=args.timeout,
            )
        except grpc.RpcError as error:
            from ..client.errors import unreachable

            err.print(f"[bold red]unhealthy:[/] {unreachable(options.target, error)}", markup=True)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status == health_pb2.HealthCheckResponse.SERVING:
        Console().print(f"[green]{status}[/] {options.target}", highlight=False)
        return 0
    err.print(f"[bold red]unhealthy:[/] {options.target} is {status}", markup=True)
    return 1
