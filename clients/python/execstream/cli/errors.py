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


def one_line(text: str) -> str:
    """``text`` on one line: a message from elsewhere (a server, an OS) may hold newlines."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def describe(exc: BaseException) -> tuple[str | None, int]:
    """Return (one-line message, exit code), or (None, 0) for a bug worth a traceback."""
    from ..client.errors import ExecstreamError, Unreachable

    if isinstance(exc, CommandError):
        return escape(one_line(str(exc))), exc.exit_code
    if isinstance(exc, Unreachable):
        return escape(one_line(str(exc))), EXIT_UNREACHABLE
    if isinstance(exc, ExecstreamError):
        return escape(f"execstream refused: {one_line(str(exc))}"), EXIT_FAILED
    if isinstance(exc, ValueError) and str(exc):
        return escape(one_line(str(exc))), EXIT_USAGE
    if isinstance(exc, OSError):
        what = one_line(f"{exc.strerror or exc}: {exc.filename or ''}").rstrip(": ")
        return escape(what), EXIT_FAILED
    return None, 0
