"""Bearer tokens: the token file, roles, and constant-time verification.

A token reads ``es_<id>_<secret>``: the id finds its entry, the secret is checked against a
salted SHA-256 with ``hmac.compare_digest``. Secrets are 256-bit random values, so a fast
hash is enough (as for API keys elsewhere); the file never holds a token in clear, and
``execstream token create`` prints each token once.

The file is JSON, rewritten atomically with mode 0600:
``{"tokens": [{"id", "role", "sidecar_id", "salt", "sha256", "created", "note", "expires"}]}``.
``expires`` (RFC 3339, optional) ends a token's validity: after it the token is refused
with TOKEN_EXPIRED. The server reloads the file on SIGHUP, so deleting an entry revokes it
without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from execstream_server.config import ConfigError
from execstream_server.domain.errors import TokenExpiredError, TokenInvalidError

TOKEN_PREFIX = "es_"


class Role(StrEnum):
    SIDECAR = "sidecar"
    VIEWER = "viewer"
    ADMIN = "admin"


# Which RPCs each role may call (full method names); health is open to everyone. A sidecar
# may read the snapshot of its own tasks only (the servicer narrows it), so that it can
# find where to resend from.
REPORT = "/execstream.v1.ExecutionService/ReportProgress"
WATCH = "/execstream.v1.ExecutionService/WatchExecution"
SNAPSHOT = "/execstream.v1.ExecutionService/GetSnapshot"
REFLECTION_PREFIX = "/grpc.reflection."
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
ALLOWED: dict[Role, frozenset[str]] = {
    Role.SIDECAR: frozenset({REPORT, SNAPSHOT}),
    Role.VIEWER: frozenset({WATCH, SNAPSHOT}),
    Role.ADMIN: frozenset({REPORT, WATCH, SNAPSHOT}),
}


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    token_id: str
    role: Role
    sidecar_id: str = ""

    def may_call(self, method: str) -> bool:
        return method in ALLOWED[self.role] or method.startswith(REFLECTION_PREFIX)


@dataclass(frozen=True)
class TokenEntry:
    id: str
    role: str
    salt: str
    sha256: str
    sidecar_id: str = ""
    created: str = ""
    note: str = ""
    expires: str = ""


def parse_expiry(text: str) -> float:
    """An RFC 3339 time (``2030-01-31T12:00:00Z``) as a Unix time; ValueError if not one."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (end it with Z or +00:00)")
    return moment.timestamp()


def format_expiry(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class TokenBook:
    """Verifies bearer tokens against the entries of a token file."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = {entry.id: entry for entry in entries}
        self._expiry = {entry.id: parse_expiry(entry.expires) for entry in entries if entry.expires}

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def load(cls, path: str) -> TokenBook:
        try:
            data = json.loads(Path(path).read_text())
            raw = data["tokens"]
            entries = [TokenEntry(**item) for item in raw]
        except FileNotFoundError as exc:
            raise ConfigError(
                f"--auth-file {path}: no such file (create one with "
                "'execstream token create --auth-file ...')"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--auth-file {path}: not a token file ({exc})") from exc
        for entry in entries:
            if entry.role not in {r.value for r in Role}:
                raise ConfigError(
                    f"--auth-file {path}: token {entry.id}: unknown role {entry.role!r}"
                )
            if entry.role == Role.SIDECAR.value and not entry.sidecar_id:
                raise ConfigError(
                    f"--auth-file {path}: token {entry.id}: sidecar role needs sidecar_id"
                )
            if entry.expires:
                try:
                    parse_expiry(entry.expires)
                except ValueError as exc:
                    raise ConfigError(
                        f"--auth-file {path}: token {entry.id}: expires: {exc}"
                    ) from exc
        return cls(entries)

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        """Return the principal of a valid token (constant time per entry).

        Raise TokenInvalidError for an unknown or wrong token, TokenExpiredError for a
        genuine token past its expiry (checked after the secret, so it reveals nothing).
        """
        invalid = TokenInvalidError("invalid or unknown bearer token")
        if not token.startswith(TOKEN_PREFIX):
            raise invalid
        token_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
        entry = self._entries.get(token_id)
        if entry is None:
            # Spend the same work as a real check so timing does not reveal which ids exist.
            hmac.compare_digest(_digest("00" * 16, secret), "0" * 64)
            raise invalid
        if not hmac.compare_digest(_digest(entry.salt, secret), entry.sha256):
            raise invalid
        expiry = self._expiry.get(entry.id)
        if expiry is not None and (time.time() if now is None else now) >= expiry:
            raise TokenExpiredError(format_expiry(expiry))
        return Principal(token_id=entry.id, role=Role(entry.role), sidecar_id=entry.sidecar_id)


def create_token(
    path: str, role: Role, *, sidecar_id: str = "", note: str = "", expires: str = ""
) -> str:
    """Add a token to the file (created if missing, mode 0600) and return it, once.

    ``expires`` is an RFC 3339 time; empty means the token never expires.
    """
    if role is Role.SIDECAR and not sidecar_id:
        raise ConfigError("token create: --sidecar-id is required for the sidecar role")
    if expires:
        try:
            expires = format_expiry(parse_expiry(expires))
        except ValueError as exc:
            raise ConfigError(f"token create: --expires: {exc}") from exc
    file = Path(path)
    data = json.loads(file.read_text()) if file.exists() else {"tokens": []}
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    entry = TokenEntry(
        id=token_id,
        role=role.value,
        salt=salt,
        sha256=_digest(salt, secret),
        sidecar_id=sidecar_id,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        note=note,
        expires=expires,
    )
    data["tokens"].append(asdict(entry))
    _write(file, data)
    return f"{TOKEN_PREFIX}{token_id}_{secret}"


def token_entries(path: str) -> list[dict[str, str]]:
    """The entries of a token file as stored: ids, roles, notes and hashes, never a token."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"--auth-file {path}: no such file")
    return list(json.loads(file.read_text()).get("tokens", []))


def revoke_token(path: str, token: str) -> dict[str, str]:
    """Remove a token from the file, by id or as the whole token; return its entry."""
    token_id = (
        token[len(TOKEN_PREFIX) :].partition("_")[0] if token.startswith(TOKEN_PREFIX) else token
    )
    entries = token_entries(path)
    kept = [entry for entry in entries if entry.get("id") != token_id]
    if len(kept) == len(entries):
        raise ConfigError(f"--auth-file {path}: no token with id {token_id!r}")
    (removed,) = [entry for entry in entries if entry.get("id") == token_id]
    file = Path(path)
    data = json.loads(file.read_text())
    data["tokens"] = kept
    _write(file, data)
    return removed


def _write(file: Path, data: object) -> None:
    """Replace the file atomically, readable by its owner only."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, file)
