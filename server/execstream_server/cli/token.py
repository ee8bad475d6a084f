"""``execstream token create``: add a bearer token to an auth file and print it once."""

from __future__ import annotations

import argparse

from rich.console import Console

from execstream_server.cli.failures import one_line_errors


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("token", help="manage bearer tokens of an --auth-file")
    actions = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create a token and print it once (only its salted hash is stored)",
    )
    create.add_argument("--auth-file", required=True, help="token file (created if missing)")
    create.add_argument("--role", required=True, choices=["sidecar", "viewer", "admin"])
    create.add_argument(
        "--sidecar-id", default="", help="the sidecar id a sidecar token may report as"
    )
    create.add_argument("--note", default="", help="a note for people (who holds the token)")
    create.set_defaults(func=run_create)


@one_line_errors
def run_create(args: argparse.Namespace) -> int:
    from execstream_server.transport.auth import Role, create_token

    token = create_token(
        args.auth_file, Role(args.role), sidecar_id=args.sidecar_id, note=args.note
    )
    print(token)
    Console(stderr=True).print(
        f"[dim]stored a salted hash in {args.auth_file}; "
        "this is the only time the token is shown[/]"
    )
    return 0
