"""The ``execstream`` command's exit codes (docs/clients.md lists them for people).

0 success; 1 the operation failed (a task or check failed, the server said no); 2 bad usage
or configuration; 3 the server could not be reached; 130 interrupted; 141 the output pipe
closed. ``run`` exits with its command's code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report it
