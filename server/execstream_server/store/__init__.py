"""Storage adapters behind one interface (``base.LogStore``): SQLite embedded, Redis shared."""

from .base import AppendResult, LogStore, Recovery

__all__ = ["AppendResult", "LogStore", "Recovery"]
