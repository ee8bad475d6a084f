"""Throwaway certificates made at test time (nothing secret is committed)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(
    common_name: str = "execstream test CA",
) -> tuple[Pem, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    client: bool,
    wrong_usage: bool = False,
) -> Pem:
    """A server (names localhost and 127.0.0.1) or client certificate signed by the CA.

    ``wrong_usage`` gives it the other role's extended key usage: a server certificate
    marked for clients only, or the reverse.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    if wrong_usage:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if client else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if not client:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@dataclass(frozen=True)
class CertFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    ca_pem: bytes
    client: Pem


def write_certs(directory: Path, *, wrong_usage: bool = False) -> CertFiles:
    """A CA, a server certificate and a client certificate (each for the other role's use
    only, with ``wrong_usage``) as PEM files in ``directory``."""
    ca, ca_key, ca_cert = make_ca()
    server = issue(ca_key, ca_cert, "localhost", client=False, wrong_usage=wrong_usage)
    client = issue(ca_key, ca_cert, "sidecar-1", client=True, wrong_usage=wrong_usage)
    paths = {}
    for name, data in (
        ("ca.pem", ca.cert),
        ("server.pem", server.cert),
        ("server.key", server.key),
        ("client.pem", client.cert),
        ("client.key", client.key),
    ):
        paths[name] = directory / name
        paths[name].write_bytes(data)
    return CertFiles(
        paths["ca.pem"],
        paths["server.pem"],
        paths["server.key"],
        paths["client.pem"],
        paths["client.key"],
        ca.cert,
        client,
    )
