"""TLS files that can never work are named before anything connects or listens, exit 2.

A missing file, a CA file without a certificate, a key of another certificate or a
certificate for the other role (a client certificate given to ``serve``) used to surface as
an unreachable server, a handshake failure or a port ``serve`` could not use.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from execstream.cli.main import main
from execstream.cli.tls_files import usable_for

from .support.certs import CertFiles, write_certs
from .support.cli import cli
from .support.helpers import free_port
from .support.server_thread import ServerThread


def execstream(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return write_certs(tmp_path)


@pytest.fixture
def wrong(tmp_path: Path) -> CertFiles:
    """Certificates each marked for the other role only."""
    (tmp_path / "wrong").mkdir()
    return write_certs(tmp_path / "wrong", wrong_usage=True)


def junk(tmp_path: Path) -> Path:
    path = tmp_path / "junk.pem"
    path.write_text("not a certificate\n")
    return path


def client_cases(certs: CertFiles, wrong: CertFiles, tmp_path: Path) -> list[tuple[list[str], str]]:
    missing = tmp_path / "missing.pem"
    return [
        (["--ca", str(missing)], f"--ca {missing}: No such file or directory"),
        (
            ["--ca", str(junk(tmp_path))],
            f"--ca {junk(tmp_path)}: no PEM certificate could be read from it",
        ),
        (
            ["--cert", str(certs.client_cert), "--key", str(certs.server_key)],
            f"--key {certs.server_key} is not the private key of --cert {certs.client_cert}",
        ),
        (
            ["--cert", str(certs.client_cert), "--key", str(missing)],
            f"--key {missing}: No such file or directory",
        ),
        (
            ["--cert", str(wrong.client_cert), "--key", str(wrong.client_key)],
            f"--cert {wrong.client_cert}: the certificate is not for TLS clients (its extended "
            "key usage leaves out clientAuth)",
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(5))
def test_a_client_tls_file_that_cannot_work_is_named_before_connecting(
    case: int,
    certs: CertFiles,
    wrong: CertFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags, line = client_cases(certs, wrong, tmp_path)[case]
    target = f"127.0.0.1:{free_port()}"  # nothing listens: the files are read first
    code, out, err = execstream(capsys, "snapshot", "--target", target, "--wait", "30", *flags)
    assert (code, out, err) == (2, "", f"error: {line}\n")


def test_serve_names_a_tls_file_that_cannot_work(
    certs: CertFiles, wrong: CertFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve = ["serve", "--db", ":memory:", "--port", "0", "--metrics-port", "0", "--http-port", "0"]
    cases = [
        (
            ["--tls-cert", str(junk(tmp_path)), "--tls-key", str(certs.server_key)],
            f"--tls-cert {junk(tmp_path)}: no PEM certificate could be read from it",
        ),
        (
            ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.client_key)],
            f"--tls-key {certs.client_key} is not the private key of --tls-cert "
            f"{certs.server_cert}",
        ),
        (
            ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key),
             "--tls-client-ca", str(junk(tmp_path))],
            f"--tls-client-ca {junk(tmp_path)}: no PEM certificate could be read from it",
        ),
        (
            ["--tls-cert", str(certs.server_cert), "--tls-key", str(tmp_path / "nope.key")],
            f"--tls-key {tmp_path / 'nope.key'}: No such file or directory",
        ),
        (["--tls-cert", str(certs.server_cert)], "--tls-cert needs --tls-key: give the "
         "certificate and its key"),
        (
            ["--tls-cert", str(wrong.server_cert), "--tls-key", str(wrong.server_key)],
            f"--tls-cert {wrong.server_cert}: the certificate is not for TLS servers (its "
            "extended key usage leaves out serverAuth)",
        ),
    ]  # fmt: skip
    for flags, line in cases:
        assert execstream(capsys, *serve, *flags) == (2, "", f"error: {line}\n")


def _rsa_cert(tmp_path: Path, usages: list[x509.ObjectIdentifier] | None, critical: bool) -> Path:
    """A self-signed RSA certificate (long DER lengths), with or without an extended key usage."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=critical)
    path = tmp_path / f"rsa-{len(usages or [])}-{critical}.pem"
    path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def test_the_extended_key_usage_is_read_from_any_certificate(tmp_path: Path) -> None:
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    anything = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
    assert usable_for(str(_rsa_cert(tmp_path, None, False)), "server")
    both = _rsa_cert(tmp_path, [client, server], True)
    assert usable_for(str(both), "server") and usable_for(str(both), "client")
    only_client = _rsa_cert(tmp_path, [client], False)
    assert usable_for(str(only_client), "client") and not usable_for(str(only_client), "server")
    assert usable_for(str(_rsa_cert(tmp_path, [anything], True)), "client")


@pytest.mark.server
def test_a_server_certificate_for_clients_only_is_named(
    server_factory: Callable[..., ServerThread], wrong: CertFiles
) -> None:
    server = server_factory(tls_cert=str(wrong.server_cert), tls_key=str(wrong.server_key))
    done = cli(None, "snapshot", "--ca", str(wrong.ca), target=server.address)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: cannot connect to execstream at {server.address}: the server's certificate is "
        "not for TLS servers (its extended key usage leaves out serverAuth): the server needs "
        "a certificate issued for serving TLS\n"
    )
