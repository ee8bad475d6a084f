"""``execstream token create|list|revoke``: the bearer tokens of an ``--auth-file``.

Each works on the file only; a running server reads it when it starts, so it sees a new or
revoked token after a restart.
"""

from __future__ import annotations

import argparse

from execstream.cli.consoles import stderr_console, stdout_console
from execstream.cli.words import count
from rich.markup import escape
from rich.table import Table

from execstream_server.cli.failures import one_line_errors

_RELOAD = "send the server SIGHUP (or restart it) to apply it"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "token",
        help="manage the bearer tokens of an --auth-file",
        description="Create, list and revoke the bearer tokens of a token file (serve "
        "--auth-file). The file keeps salted hashes only: a token is shown once, when made.",
    )
    actions = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create a token and print it once (only its salted hash is stored)",
        description="Add a token to the file (created if missing, mode 0600) and print it "
        "once on stdout.",
    )
    _auth_file(create, "token file (created if missing)")
    create.add_argument("--role", required=True, choices=["sidecar", "viewer", "admin"])
    create.add_argument(
        "--sidecar-id",
        metavar="ID",
        default="",
        help="the sidecar id a sidecar token may report as (required for --role sidecar)",
    )
    create.add_argument(
        "--note", metavar="TEXT", default="", help="a note for people (who holds the token)"
    )
    create.add_argument(
        "--expires",
        metavar="TIME",
        default="",
        help="RFC 3339 time after which the token is refused (e.g. 2030-01-31T00:00:00Z)",
    )
    create.set_defaults(func=run_create)

    listing = actions.add_parser(
        "list",
        help="list the tokens of a file (ids, roles, notes; never the tokens)",
        description="List the tokens of the file: id, role, sidecar id, when made, note.",
    )
    _auth_file(listing, "token file")
    listing.set_defaults(func=run_list)

    revoke = actions.add_parser(
        "revoke",
        help="remove a token from a file",
        description="Remove a token from the file, named by its id (from token list) or "
        f"given whole; {_RELOAD}.",
    )
    _auth_file(revoke, "token file")
    revoke.add_argument("token", metavar="ID", help="the token's id, or the token itself")
    revoke.set_defaults(func=run_revoke)


def _auth_file(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--auth-file", metavar="FILE", required=True, help=text)


def _check_file(path: str, *, may_be_missing: bool = False) -> None:
    """Read the file as ``serve`` does: a malformed one is one line naming it, exit 2.

    Editing a file the server would refuse would only hide the problem until it restarts.
    """
    from pathlib import Path

    from execstream_server.transport.auth import TokenBook

    if may_be_missing and not Path(path).exists():
        return
    TokenBook.load(path)


@one_line_errors
def run_create(args: argparse.Namespace) -> int:
    from execstream_server.transport.auth import Role, create_token

    _check_file(args.auth_file, may_be_missing=True)
    token = create_token(
        args.auth_file,
        Role(args.role),
        sidecar_id=args.sidecar_id,
        note=args.note,
        expires=args.expires,
    )
    print(token)
    stderr_console().print(
        f"[dim]stored a salted hash in {escape(args.auth_file)}; "
        "this is the only time the token is shown[/]"
    )
    return 0


@one_line_errors
def run_list(args: argparse.Namespace) -> int:
    from execstream_server.transport.auth import token_entries

    _check_file(args.auth_file)
    entries = token_entries(args.auth_file)
    out = stdout_console(soft_wrap=True)
    out.print(f"{escape(args.auth_file)}: {count(len(entries), 'token')}")
    if not entries:
        return 0
    table = Table()
    for header in ("id", "role", "sidecar", "created", "note"):
        table.add_column(header, overflow="fold")
    for entry in entries:
        table.add_row(
            *(entry.get(key, "") or "-" for key in ("id", "role", "sidecar_id", "created")),
            entry.get("note", ""),
        )
    out.print(table)
    return 0


@one_line_errors
def run_revoke(args: argparse.Namespace) -> int:
    from execstream_server.transport.auth import revoke_token, token_entries

    _check_file(args.auth_file)
    removed = revoke_token(args.auth_file, args.token)
    what = ", ".join(x for x in (removed.get("role", ""), removed.get("note", "")) if x)
    left = len(token_entries(args.auth_file))
    line = f"revoked token {removed.get('id')} ({what}) from {args.auth_file}; {_RELOAD}"
    if not left:
        line += "; no token is left: the server will refuse every call"
    stderr_console().print(escape(line))
    return 0
