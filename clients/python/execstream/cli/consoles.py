"""The CLI's rich consoles: stderr for people, stdout for results, and a closed pipe is 141.

Rich reacts to a closed output pipe (``execstream snapshot | head -1``) by raising
``SystemExit(1)``, which would make a reader going away look like a failure. Our consoles
raise ``BrokenPipeError`` instead, which the entry point turns into exit 141 (128 + SIGPIPE,
what a shell tool killed by SIGPIPE reports), quietly.
"""

from __future__ import annotations

import errno

from rich.console import Console


class _Console(Console):
    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more is written, not even rich's own last flush
        raise BrokenPipeError(errno.EPIPE, "the output pipe closed")


def stdout_console(*, width: int | None = None, soft_wrap: bool = False) -> Console:
    """Results: tables, events. ``width`` None is the terminal's (80 when not a terminal)."""
    return _Console(highlight=False, width=width, soft_wrap=soft_wrap)


def stderr_console() -> Console:
    """Messages for people: one line each, however narrow the terminal (soft wrap)."""
    return _Console(stderr=True, highlight=False, soft_wrap=True)
