"""Say what is wrong with a connection gRPC could not make: TLS on one side only, a
certificate the client does not trust, a client certificate the server wants.

gRPC reports all of these as "socket closed" or a handshake error deep in its core. After a
failed connection the CLI repeats the handshake with Python's ``ssl`` module, which names
the failure (a certificate verification error, a TLS alert, a reply that is not TLS), and
turns it into one line that says what to change.
"""

from __future__ import annotations

import socket
import ssl

from ..client.options import ConnectOptions

_PROBE_TIMEOUT_S = 3.0
_WANTS_CLIENT_CERT = "the server wants a client certificate (mTLS): pass --cert and --key"
_CLIENT_CERT_REFUSED = (
    "the server does not accept this client certificate (--cert): it is not signed by a CA "
    "the server trusts"
)


def explain(options: ConnectOptions) -> str | None:
    """What is wrong with the TLS set-up of ``options`` against its server, or None."""
    address = _host_port(options.target)
    if address is None:
        return None  # unix:, dns:///, or a name list: leave it to gRPC's own words
    try:
        if options.tls:
            return _tls_problem(options, *address)
        if _speaks_tls(*address):
            return "the server wants TLS: pass --tls (and --ca FILE for a private CA)"
    except OSError:
        return None  # refused, reset, timed out: not a TLS problem
    return None


def _host_port(target: str) -> tuple[str, int] | None:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or "/" in target:
        return None
    return host.strip("[]"), int(port)


def _connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S)


def _speaks_tls(host: str, port: int) -> bool:
    """True when the server answers a TLS ClientHello as a TLS server would."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with _connect(host, port) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host):
                return True
        except ssl.SSLError as exc:
            # A TLS alert (e.g. "certificate required") is still a TLS server speaking.
            return "ALERT" in (exc.reason or "")


def _tls_problem(options: ConnectOptions, host: str, port: int) -> str | None:
    context = ssl.create_default_context(cafile=options.ca_file or None)
    context.set_alpn_protocols(["h2"])
    if options.cert_file and options.key_file:
        context.load_cert_chain(options.cert_file, options.key_file)
    name = options.server_name or host
    with _connect(host, port) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                return _after_handshake(tls, options)
        except ssl.SSLCertVerificationError as exc:
            return _untrusted(exc, name, options)
        except ssl.SSLError as exc:
            return _refused_handshake(exc.reason or "", options)


def _after_handshake(tls: ssl.SSLSocket, options: ConnectOptions) -> str | None:
    """TLS 1.3 servers check the client certificate after the client's handshake ends.

    A server that refuses it hangs up at once (with an alert, or with none, as gRPC's
    does); one that accepts it sends its HTTP/2 settings or waits for ours.
    """
    tls.settimeout(1.0)
    try:
        closed = tls.recv(1) == b""
    except ssl.SSLError as exc:
        return _refused_handshake(exc.reason or "", options)
    except OSError:
        return None
    if not closed:
        return None
    if not options.cert_file:
        return _WANTS_CLIENT_CERT
    return _CLIENT_CERT_REFUSED


def _untrusted(exc: ssl.SSLCertVerificationError, name: str, options: ConnectOptions) -> str:
    message = (exc.verify_message or "").lower()
    if "hostname" in message or "ip address mismatch" in message:
        return (
            f"the server's certificate is not valid for {name}: connect by a name it lists, "
            "or set EXECSTREAM_SERVER_NAME"
        )
    if "expired" in message:
        return "the server's certificate has expired"
    if "purpose" in message:  # OpenSSL: "unsuitable (or unsupported) certificate purpose"
        return (
            "the server's certificate is not for TLS servers (its extended key usage leaves "
            "out serverAuth): the server needs a certificate issued for serving TLS"
        )
    trusted_by = f"the CA in {options.ca_file}" if options.ca_file else "the system's CAs"
    return (
        f"the server's certificate is not trusted ({message or 'verification failed'}): "
        f"it is not signed by {trusted_by}; pass --ca with the CA that signed it"
    )


def _refused_handshake(reason: str, options: ConnectOptions) -> str | None:
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return "the server does not use TLS: leave out --tls, --ca, --cert and --key"
    if "CERTIFICATE_REQUIRED" in reason or (
        "HANDSHAKE_FAILURE" in reason and not options.cert_file
    ):
        return _WANTS_CLIENT_CERT
    if any(alert in reason for alert in ("UNKNOWN_CA", "BAD_CERTIFICATE", "DECRYPT_ERROR")):
        return _CLIENT_CERT_REFUSED
    return None
