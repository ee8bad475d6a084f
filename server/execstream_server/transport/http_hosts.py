"""Which ``Host`` the HTTP port answers: the dashboard's defence against DNS rebinding.

A page on another site can make its own name resolve to 127.0.0.1 (DNS rebinding); the
browser then counts the dashboard's port as that site's origin, and the page could read
every task through it. The browser still sends that site's name in ``Host``, so the port
answers only names it knows: loopback names and addresses on any port (``localhost``,
``*.localhost``, 127.0.0.0/8, ``[::1]``: SSH tunnels forward to other ports), the
configured ``--http-host`` with the port it listens on, and what ``--http-allow-host``
lists (a reverse proxy's public name; ``NAME`` for any port, ``NAME:PORT`` for one).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# The port a Host without one means, by scheme.
_DEFAULT_PORT = {False: 80, True: 443}


def split_host(value: str) -> tuple[str, int | None] | None:
    """``Name:Port`` -> (``name``, port); lower-cased, trailing dot dropped; None if malformed.

    IPv6 addresses keep their brackets (``[::1]``); a bare one (``::1``) is bracketed.
    """
    text = value.strip().lower()
    if text.count(":") > 1 and not text.startswith("["):
        text = f"[{text}]"
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and text[end + 1] != ":"):
            return None
        name, port_text = text[: end + 1], text[end + 2 :] if end + 1 < len(text) else None
    else:
        name, colon, rest = text.partition(":")
        port_text = rest if colon else None
    name = name.rstrip(".")
    if not name or name == "[]":
        return None
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def is_loopback_name(name: str) -> bool:
    """``localhost`` (and its subdomains, which browsers resolve locally) or a loopback IP."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPolicy:
    """The names the HTTP port answers (see the module docstring)."""

    listen_host: str
    allowed: tuple[str, ...] = ()

    def allows(self, host: str, *, port: int, secure: bool) -> bool:
        """Whether a request with this ``Host`` header, on the port ``port``, is served."""
        parsed = split_host(host)
        if parsed is None:
            return False
        name, explicit = parsed
        if is_loopback_name(name):
            return True
        effective = explicit if explicit is not None else _DEFAULT_PORT[secure]
        listen = split_host(self.listen_host)
        if listen is not None and listen[0] == name and effective == port:
            return True
        for entry in self.allowed:
            allowed = split_host(entry)
            if allowed is not None and allowed[0] == name and allowed[1] in (None, effective):
                return True
        return False
