"""Turn exceptions into one line for people and an exit code (no tracebacks)."""

from __future__ import annotations

from rich.markup import escape

from . import main as _main


def describe(exc: BaseException) -> tuple[str | None, int]:
    """Return (one-line message, exit code), or (None, 0) for a bug worth a traceback."""
    from execstream_server.config import ConfigError
    from execstream_server.errors import StoreUnavailableError

    from ..client.errors import ExecstreamError, Unreachable

    if isinstance(exc, ConfigError):
        return escape(str(exc)), _main.EXIT_USAGE
    if isinstance(exc, StoreUnavailableError):
        return escape(f"store unavailable: {exc}"), _main.EXIT_FAILED
    if isinstance(exc, Unreachable):
        return escape(str(exc)), _main.EXIT_UNREACHABLE
    if isinstance(exc, ExecstreamError):
        return escape(f"execstream refused: {exc}"), _main.EXIT_FAILED
    if isinstance(exc, ValueError) and str(exc):
        return escape(str(exc)), _main.EXIT_USAGE
    if isinstance(exc, OSError):
        return escape(
            f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        ), _main.EXIT_FAILED
    return None, 0
