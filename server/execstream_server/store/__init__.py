"""Storage adapters behind one interface (``base.LogStore``): SQLite embedded, Redis shared."""

from execstream_server.store.base import AppendResult, LogStore, Recovery

__all__ = ["AppendResult", "LogStore", "Recovery"]
