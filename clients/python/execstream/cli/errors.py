"""Turn exceptions into one line for people and an exit code (no tracebacks).

Commands that plug in from other packages (``execstream serve`` from the server) raise
``CommandError`` for what people can act on; this module knows no server exception.
"""

from __future__ import annotations

from rich.markup import escape

from .exit_codes import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE


class CommandError(Exception):
    """A failure to report as one line, with the exit code the command should end with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe(exc: BaseException) -> tuple[str | None, int]:
    """Return (one-line message, exit code), or (None, 0) for a bug worth a traceback."""
    from ..client.errors import ExecstreamError, Unreachable

    if isinstance(exc, CommandError):
        return escape(str(exc)), exc.exit_code
    if isinstance(exc, Unreachable):
        return escape(str(exc)), EXIT_UNREACHABLE
    if isinstance(exc, ExecstreamError):
        return escape(f"execstream refused: {exc}"), EXIT_FAILED
    if isinstance(exc, ValueError) and str(exc):
        return escape(str(exc)), EXIT_USAGE
    if isinstance(exc, OSError):
        return escape(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")), EXIT_FAILED
    return None, 0
