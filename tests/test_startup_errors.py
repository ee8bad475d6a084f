"""A store that cannot be opened stops the server with one line, and no secret is logged."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from execstream_server.store.factory import display_url

from .support.helpers import free_port
from .support.processes import ServerProcess

SERVE = (sys.executable, "-m", "execstream", "serve")


@pytest.mark.parametrize(
    ("store_args", "expected"),
    [
        (["--db", "/nonexistent-dir/x.db"], "error: store unavailable: sqlite store"),
        (["--store", "redis://:hunter2@127.0.0.1:{port}/0"], "error: store unavailable: redis"),
    ],
)
def test_unopenable_store_is_one_line_without_secrets(
    store_args: list[str], expected: str, tmp_path: Path
) -> None:
    args = [a.format(port=free_port()) for a in store_args]
    done = subprocess.run(
        [*SERVE, "--port", "0", "--metrics-port", "0", "--http-port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1, done.stderr
    assert "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@db:6379/0", "redis://:***@db:6379/0"),
        ("rediss://app:hunter2@db:6380/1", "rediss://app:***@db:6380/1"),
        ("redis://db:6379/0", "redis://db:6379/0"),
        ("sqlite:/var/lib/execstream/x.db", "sqlite:/var/lib/execstream/x.db"),
    ],
)
def test_store_urls_are_logged_without_their_password(url: str, shown: str) -> None:
    assert display_url(url) == shown


@pytest.mark.server
@pytest.mark.parametrize("command", ["pricing", "serve"])
def test_a_price_above_the_maximum_exits_2_with_one_line_naming_the_key(
    command: str, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        'version = "x"\nreference_model = "m"\n[models.m]\ninput = 1e308\noutput = 1\n'
        'effective_from = 2026-01-01\nsource = "test"\n'
    )
    args = [sys.executable, "-m", "execstream", command, "--pricing", str(prices)]
    if command == "serve":
        args += ["--port", "0", "--metrics-port", "0", "--http-port", "0"]
        args += ["--db", str(tmp_path / "x.db")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert 'models."m".input' in done.stderr and "above the maximum 4000" in done.stderr


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``execstream serve ARGS``; the dashboard is off unless ARGS give it a port."""
    return subprocess.run(
        [*SERVE, "--db", ":memory:", "--http-port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.server
@pytest.mark.parametrize(
    ("flag", "zero"),
    [
        ("--port", "0 for a free one"),
        ("--metrics-port", "0 to turn metrics off"),
        ("--http-port", "0 to turn the dashboard off"),
    ],
)
def test_a_busy_port_is_one_line_naming_it(flag: str, zero: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        others = [f"{other}=0" for other in ("--port", "--metrics-port", "--http-port")]
        done = serve(
            *[o for o in others if not o.startswith(flag + "=")], flag, str(port), cwd=tmp_path
        )
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {flag} {port}: cannot listen on 127.0.0.1:{port}: Address already in use "
        f"(pick another {flag}, or {zero})\n"
    )


@pytest.mark.server
def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path) -> None:
    """gRPC's SO_REUSEPORT would let both listen and split the clients between them."""
    first = ServerProcess(tmp_path / "first.db").start()
    try:
        done = serve(
            "--port", str(first.port), "--metrics-port", "0", "--http-port", "0", cwd=tmp_path
        )
        assert done.returncode == 2
        assert done.stderr.startswith(f"error: --port {first.port}: cannot listen on ")
        assert done.stderr.count("\n") == 1
    finally:
        first.kill()
