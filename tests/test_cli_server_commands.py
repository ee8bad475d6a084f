"""The server's commands as documented: ``token create|list|revoke``, ``pricing --reprice``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .support.certs import write_certs
from .support.cli import cli
from .support.server_thread import ServerThread


def test_token_list_and_revoke(tmp_path: Path) -> None:
    tokens = str(tmp_path / "tokens.json")
    made = cli(None, "token", "create", "--auth-file", tokens, "--role", "viewer", "--note", "ci")
    assert made.returncode == 0, made.stderr
    viewer = made.stdout.strip()
    cli(None, "token", "create", "--auth-file", tokens, "--role", "sidecar", "--sidecar-id", "b7")
    ids = [entry["id"] for entry in json.loads(Path(tokens).read_text())["tokens"]]

    listed = cli(None, "token", "list", "--auth-file", tokens, env={"COLUMNS": "100"})
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{tokens}: 2 tokens")
    assert all(token_id in listed.stdout for token_id in ids)
    assert viewer not in listed.stdout and viewer.split("_")[-1] not in listed.stdout

    revoked = cli(None, "token", "revoke", "--auth-file", tokens, viewer)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stderr.startswith(f"revoked token {ids[0]} (viewer, ci) from {tokens};")
    assert [e["id"] for e in json.loads(Path(tokens).read_text())["tokens"]] == ids[1:]
    assert "1 token\n" in cli(None, "token", "list", "--auth-file", tokens).stdout

    again = cli(None, "token", "revoke", "--auth-file", tokens, ids[0])
    assert again.returncode == 2
    assert again.stderr == f"error: --auth-file {tokens}: no token with id '{ids[0]}'\n"


@pytest.mark.server
def test_reprice_takes_the_connection_flags(
    server_factory: Callable[..., ServerThread], tmp_path: Path
) -> None:
    certs = write_certs(tmp_path)
    server = server_factory(tls_cert=str(certs.server_cert), tls_key=str(certs.server_key))
    done = cli(
        None, "pricing", "--reprice", "--ca", str(certs.ca), target=server.address,
        env={"COLUMNS": "100"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "nothing is changed" in done.stdout
