"""Check TLS files before anything connects or listens: a set-up that can never work is
one line naming the flag and the file, exit 2.

gRPC reads certificate files only when it makes a connection (or binds a port), and then
reports a missing file, a CA file that holds no certificate or a key that belongs to another
certificate as an unreachable server, a handshake failure or a port it cannot use. Python's
``ssl`` module reads the same PEM files the same way (OpenSSL), so loading them here first
names the real problem. Shared by the client commands (``--ca``, ``--cert``, ``--key``) and
``serve`` (``--tls-cert``, ``--tls-key``, ``--tls-client-ca``).
"""

from __future__ import annotations

import base64
import re
import ssl
from typing import Literal

from .errors import CommandError
from .exit_codes import EXIT_USAGE

TlsSide = Literal["client", "server"]
# DER of the extendedKeyUsage extension's id (2.5.29.37), and of the usages that matter.
_EKU_ID = bytes.fromhex("0603551d25")
_PURPOSES = {
    "server": bytes.fromhex("2b06010505070301"),  # id-kp-serverAuth
    "client": bytes.fromhex("2b06010505070302"),  # id-kp-clientAuth
}
_ANY_PURPOSE = bytes.fromhex("551d2500")  # anyExtendedKeyUsage
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def _readable(flag: str, path: str) -> None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        raise CommandError(f"{flag} {path}: {exc.strerror or exc}", EXIT_USAGE) from None


def check_ca_file(flag: str, path: str) -> None:
    """``path`` holds at least one PEM certificate (a CA bundle to trust)."""
    _readable(flag, path)
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        raise CommandError(
            f"{flag} {path}: no PEM certificate could be read from it", EXIT_USAGE
        ) from None


def check_key_pair(cert: tuple[str, str], key: tuple[str, str], role: TlsSide) -> None:
    """``cert`` (flag, path) is a PEM certificate for ``role`` and ``key`` (flag, path) its key.

    A certificate whose extended key usage leaves out its role (a client certificate used
    by a server, say) is refused by every peer, after the handshake, without a word.
    """
    (cert_flag, cert_path), (key_flag, key_path) = cert, key
    if bool(cert_path) != bool(key_path):
        given, missing = (cert_flag, key_flag) if cert_path else (key_flag, cert_flag)
        raise CommandError(f"{given} needs {missing}: give the certificate and its key", EXIT_USAGE)
    if not cert_path:
        return
    _readable(cert_flag, cert_path)
    _readable(key_flag, key_path)
    check_ca_file(cert_flag, cert_path)  # a certificate file reads as a bundle of one
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert_path, key_path, password=_no_password)
    except ssl.SSLError as exc:
        raise CommandError(_key_problem(exc, cert, key), EXIT_USAGE) from None
    if not usable_for(cert_path, role):
        raise CommandError(
            f"{cert_flag} {cert_path}: the certificate is not for TLS {role}s (its extended "
            f"key usage leaves out {role}Auth)",
            EXIT_USAGE,
        )


def usable_for(path: str, role: TlsSide) -> bool:
    """Whether the first certificate in the PEM file ``path`` may serve as a TLS ``role``.

    True without an extended key usage (any use), or when it lists the role or any usage.
    Python's ``ssl`` does not show the extension, so its DER is read here: the extension's
    id, an optional ``critical`` flag, then an OCTET STRING holding a SEQUENCE of OIDs.
    """
    with open(path, "rb") as file:
        found = _PEM_CERT.search(file.read())
    if found is None:
        return True
    der = base64.b64decode(b"".join(found.group(1).split()))
    at = der.find(_EKU_ID)
    if at < 0:
        return True
    at += len(_EKU_ID)
    if der[at] == 0x01:  # BOOLEAN critical
        at += 3
    _, at = _header(der, at)  # OCTET STRING
    end, at = _header(der, at)  # SEQUENCE
    usages = set()
    while at < end:
        oid_end, start = _header(der, at)
        usages.add(der[start:oid_end])
        at = oid_end
    return _PURPOSES[role] in usages or _ANY_PURPOSE in usages


def _header(der: bytes, at: int) -> tuple[int, int]:
    """(end of the value, start of the value) of the DER element at ``at``."""
    length = der[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    return start + length, start


def _no_password() -> bytes:
    """An encrypted key is refused rather than prompted for: gRPC cannot use one."""
    return b""


def _key_problem(exc: ssl.SSLError, cert: tuple[str, str], key: tuple[str, str]) -> str:
    reason = (exc.reason or "").upper()
    (cert_flag, cert_path), (key_flag, key_path) = cert, key
    if "MISMATCH" in reason:
        return f"{key_flag} {key_path} is not the private key of {cert_flag} {cert_path}"
    if "DECRYPT" in reason or "PASSWORD" in reason or "BAD_PASSWORD" in reason:
        return f"{key_flag} {key_path}: the key is encrypted; give an unencrypted PEM key"
    return f"{key_flag} {key_path}: not a PEM private key"
