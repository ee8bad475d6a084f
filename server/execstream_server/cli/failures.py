"""Server errors people can act on, turned into the CLI's one-line ``CommandError``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from execstream.cli.errors import CommandError
from execstream.cli.exit_codes import EXIT_FAILED, EXIT_USAGE

from execstream_server.config import ConfigError
from execstream_server.domain.errors import StoreUnavailableError

T = TypeVar("T")


def one_line_errors(command: Callable[..., T]) -> Callable[..., T]:
    """Wrap a command: bad configuration exits 2, an unusable store 1, each as one line."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> T:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
        except StoreUnavailableError as exc:
            raise CommandError(f"store unavailable: {exc}", EXIT_FAILED) from exc

    return wrapper
