"""Pick the store adapter from the configuration (``--store`` URL, else ``--db``)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from execstream_server.config import ConfigError, ServerConfig
from execstream_server.domain.cost import Pricer
from execstream_server.store.base import LogStore
from execstream_server.store.sqlite import SqliteStore


def display_url(url: str) -> str:
    """The store URL fit for logs: a password in it is replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))


def open_store(config: ServerConfig, pricer: Pricer) -> LogStore:
    """Build (not yet open) the store the configuration names."""
    url = config.store
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from execstream_server.store.redis import RedisStore
        except ImportError as exc:
            raise ConfigError(
                f"--store {url}: the redis extra is not installed (pip install 'execstream[redis]')"
            ) from exc
        return RedisStore(url, pricer=pricer, commit_max_events=config.commit_max_events)
    if url and not url.startswith("sqlite:"):
        raise ConfigError(
            f"--store {url}: expected redis://HOST:PORT/DB, rediss://... or sqlite:PATH"
        )
    path = url.removeprefix("sqlite:") or config.db
    return SqliteStore(path, pricer=pricer, commit_max_events=config.commit_max_events)
