"""The server's commands as documented: ``token create|list|revoke``, ``pricing --reprice``."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from execstream.cli.main import main

from .support.certs import write_certs
from .support.cli import cli
from .support.helpers import wait_for
from .support.processes import ServerProcess
from .support.server_thread import ServerThread


def execstream(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_token_list_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = str(tmp_path / "tokens.json")
    code, viewer, _ = execstream(
        capsys, "token", "create", "--auth-file", tokens, "--role", "viewer", "--note", "ci"
    )
    assert code == 0
    viewer = viewer.strip()
    execstream(
        capsys, "token", "create", "--auth-file", tokens, "--role", "sidecar", "--sidecar-id", "b7"
    )
    ids = [entry["id"] for entry in json.loads(Path(tokens).read_text())["tokens"]]

    code, listed, _ = execstream(capsys, "token", "list", "--auth-file", tokens)
    assert code == 0
    assert listed.startswith(f"{tokens}: 2 tokens\n")
    assert all(token_id in listed for token_id in ids)
    # The secret is everything after "es_<id>_" (it may itself hold "_"): never listed.
    secret = viewer.removeprefix("es_").partition("_")[2]
    assert len(secret) >= 40 and secret not in listed and viewer not in listed

    code, _, said = execstream(capsys, "token", "revoke", "--auth-file", tokens, viewer)
    assert code == 0
    assert said.startswith(f"revoked token {ids[0]} (viewer, ci) from {tokens};")
    assert [e["id"] for e in json.loads(Path(tokens).read_text())["tokens"]] == ids[1:]
    assert execstream(capsys, "token", "list", "--auth-file", tokens)[1].startswith(
        f"{tokens}: 1 token\n"
    )

    code, _, said = execstream(capsys, "token", "revoke", "--auth-file", tokens, ids[0])
    assert code == 2
    assert said == f"error: --auth-file {tokens}: no token with id '{ids[0]}'\n"


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


@pytest.mark.parametrize(
    "content",
    ["", "{not json", '{"tokens": [{"id": 1}]}', "[]"],
    ids=["empty", "json", "entry", "list"],
)
def test_a_malformed_token_file_is_one_line_for_every_action(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(content)
    for action in (
        ["list"],
        ["revoke", "abc123"],
        ["create", "--role", "viewer"],
    ):
        code, out, err = execstream(
            capsys, "token", action[0], "--auth-file", str(tokens), *action[1:]
        )
        assert (code, out) == (2, ""), action
        assert (
            err.startswith(f"error: --auth-file {tokens}: not a token file (")
            and err.count("\n") == 1
        )
    assert tokens.read_text() == content, "nothing was written over it"


def test_revoking_the_last_token_says_every_call_will_be_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = str(tmp_path / "tokens.json")
    execstream(capsys, "token", "create", "--auth-file", tokens, "--role", "admin")
    (entry,) = json.loads(Path(tokens).read_text())["tokens"]
    code, _, said = execstream(capsys, "token", "revoke", "--auth-file", tokens, entry["id"])
    assert code == 0
    assert said.endswith("; no token is left: the server will refuse every call\n")


@pytest.mark.server
def test_serve_warns_when_its_token_file_holds_no_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tokens": []}')
    server = ServerProcess(tmp_path / "x.db", "--auth-file", str(tokens)).start()
    try:
        wait_for(lambda: "listening on" in server.log_text(), timeout=30)
        (warning,) = [line for line in server.log_text().splitlines() if "WARNING" in line]
        assert warning.endswith(
            f"--auth-file {tokens} holds no token: auth is on and every call will be refused "
            f"(add one with: execstream token create --auth-file {tokens})"
        )
        assert cli(server, "snapshot").returncode == 1  # refused, as it says
    finally:
        server.kill()


@pytest.mark.server
def test_serve_counts_the_tasks_it_loaded_in_words(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "x.db").start()
    try:
        assert cli(server, "run", "--task", "only", "--", "true").returncode == 0
        server.kill()
        server.start()  # appends to the same log: its second start line counts the task

        def start_lines() -> list[str]:
            return [line for line in server.log_text().splitlines() if "listening on" in line]

        wait_for(lambda: len(start_lines()) == 2, timeout=30)
        assert start_lines()[0].endswith(" at revision 0, 0 tasks")
        assert start_lines()[1].endswith(", 1 task")
    finally:
        server.kill()


@pytest.mark.server
def test_a_token_file_reload_counts_its_tokens_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = str(tmp_path / "tokens.json")
    assert execstream(capsys, "token", "create", "--auth-file", tokens, "--role", "viewer")[0] == 0
    server = ServerProcess(tmp_path / "x.db", "--auth-file", tokens).start()
    try:
        wait_for(lambda: "listening on" in server.log_text(), timeout=30)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: f"reloaded 1 token from {tokens}" in server.log_text(), timeout=30)
        assert "1 tokens" not in server.log_text()
    finally:
        server.kill()


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_the_price_table_fits_the_terminal_and_keeps_money_whole(
    columns: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from execstream_server.domain.pricing import load_price_table

    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = execstream(capsys, "pricing")
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= columns
    (header,) = [line.split() for line in lines if line.split()[:1] == ["match"]]
    assert header[:3] == ["match", "input", "output"] and "…" not in " ".join(header)
    table = load_price_table(None)
    for entry in table.entries():
        (row,) = [line.split() for line in lines if line.split()[:1] == [entry.label]]
        prices = [cell for cell in row if cell.startswith("$")]
        assert len(prices) >= 2 and all(re.fullmatch(r"\$\d+\.\d+", p) for p in prices), row
    if columns >= 132:
        assert header[-2:] == ["since", "note"]
