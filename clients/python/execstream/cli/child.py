"""Start ``execstream run``'s command: its own session, default signals, our pipes or a pty.

The command must behave as if a shell had started it in the foreground. A background job
(``execstream run ... &`` in a script, a CI runner) starts us with SIGINT and SIGQUIT
ignored, and ignored signals survive ``exec``: the command would then ignore the Ctrl-C we
forward and the task would never end. So every signal is reset to its default and none is
blocked in the child (``posix_spawn`` does both before ``exec``, which ``subprocess`` cannot
without a ``preexec_fn``, unsafe once the reporter's thread runs). ``setsid`` puts the
command and its children in their own process group, which we signal as a whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import struct
import termios
from dataclasses import dataclass

# SIGKILL and SIGSTOP cannot be caught or ignored, so they need no reset.
_RESET = frozenset(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP}


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where the command writes: read ends for us, write ends for it (closed after spawn)."""

    stdout: int
    stderr: int | None  # None: one stream, a pty (``--pty``)
    child_stdout: int
    child_stderr: int

    @classmethod
    def pipes(cls) -> Outputs:
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        return cls(out_read, err_read, out_write, err_write)

    @classmethod
    def pty(cls) -> Outputs:
        """A pseudo-terminal for both streams: one stream in the exact order written.

        Output processing is off, so a newline stays a newline (no CR added); the window
        is our terminal's size, or 80x24.
        """
        master, slave = os.openpty()
        attributes = termios.tcgetattr(slave)
        attributes[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attributes)
        size = shutil.get_terminal_size()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size.lines, size.columns, 0, 0))
        return cls(master, None, slave, slave)

    def close_child_ends(self) -> None:
        for fd in {self.child_stdout, self.child_stderr}:
            with contextlib.suppress(OSError):
                os.close(fd)


class Child:
    """The running command; ``wait`` reaps it once and keeps its return code."""

    def __init__(self, command: list[str], outputs: Outputs) -> None:
        actions = [
            (os.POSIX_SPAWN_DUP2, outputs.child_stdout, 1),
            (os.POSIX_SPAWN_DUP2, outputs.child_stderr, 2),
        ]
        self.pid = os.posix_spawnp(
            command[0],
            command,
            os.environ,
            file_actions=actions,
            setsid=True,
            setsigdef=_RESET,
            setsigmask=(),
        )
        self.returncode: int | None = None

    def wait(self) -> int:
        """Block until the command exits: its exit code, or -N when signal N killed it."""
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the command's whole process group while it runs."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)
