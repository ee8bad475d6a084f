"""A TLS set-up that cannot work is one line naming what to change, with no gRPC log line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .support.certs import CertFiles, write_certs
from .support.cli import cli
from .support.server_thread import ServerThread


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return write_certs(tmp_path)


@pytest.fixture
def tls_server(server_factory: Callable[..., ServerThread], certs: CertFiles) -> ServerThread:
    return server_factory(tls_cert=str(certs.server_cert), tls_key=str(certs.server_key))


def only_line(stderr: str) -> str:
    assert stderr.count("\n") == 1, f"one line expected, got:\n{stderr}"
    return stderr.rstrip("\n")


@pytest.mark.parametrize("command", [["snapshot"], ["run", "--", "true"], ["watch"]])
def test_plaintext_against_a_tls_server_says_the_server_wants_tls(
    tls_server: ServerThread, command: list[str]
) -> None:
    done = cli(None, *command, target=tls_server.address)
    assert done.returncode == 2
    assert only_line(done.stderr) == (
        f"error: cannot connect to execstream at {tls_server.address}: the server wants TLS: "
        "pass --tls (and --ca FILE for a private CA)"
    )


def test_an_untrusted_server_certificate_is_named(tls_server: ServerThread, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = write_certs(tmp_path / "other")
    done = cli(None, "snapshot", "--ca", str(other.ca), target=tls_server.address)
    assert done.returncode == 2
    line = only_line(done.stderr)
    assert line.startswith(
        f"error: cannot connect to execstream at {tls_server.address}: the server's certificate "
        "is not trusted ("
    )
    assert line.endswith(
        f"it is not signed by the CA in {other.ca}; pass --ca with the CA that signed it"
    )


def test_a_trusted_server_certificate_works(tls_server: ServerThread, certs: CertFiles) -> None:
    done = cli(None, "snapshot", "--json", "--ca", str(certs.ca), target=tls_server.address)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_mtls_without_a_client_certificate_says_so(
    server_factory: Callable[..., ServerThread], certs: CertFiles
) -> None:
    server = server_factory(
        tls_cert=str(certs.server_cert), tls_key=str(certs.server_key), tls_client_ca=str(certs.ca)
    )
    done = cli(None, "snapshot", "--ca", str(certs.ca), target=server.address)
    assert done.returncode == 2
    assert only_line(done.stderr).endswith(
        "the server wants a client certificate (mTLS): pass --cert and --key"
    )
    health = cli(None, "health", "--ca", str(certs.ca), target=server.address)
    assert health.returncode == 2
    assert only_line(health.stderr).startswith("unhealthy: cannot connect to execstream at ")
    with_cert = cli(
        None, "snapshot", "--json", "--ca", str(certs.ca), "--cert", str(certs.client_cert),
        "--key", str(certs.client_key), target=server.address,
    )  # fmt: skip
    assert with_cert.returncode == 0, with_cert.stderr


def test_tls_against_a_plaintext_server_says_it_does_not_use_tls(
    server: ServerThread, certs: CertFiles
) -> None:
    done = cli(None, "snapshot", "--ca", str(certs.ca), target=server.address)
    assert done.returncode == 2
    assert only_line(done.stderr).endswith(
        "the server does not use TLS: leave out --tls, --ca, --cert and --key"
    )
