"""``execstream run``'s signal handling: forward to the command, or stop at once before it.

SIGINT, SIGTERM and SIGHUP mean "stop". Once the command runs they go to its whole process
group and the task ends CANCELLED when it exits. Before that (while ``run`` waits for the
server, or sends the task's first event) there is nothing to forward to, so the handler
raises ``Interrupted`` and ``run`` exits 128 + N at once: waiting out ``--wait`` first
would make Ctrl-C look ignored. ``Interrupted`` derives from ``BaseException`` so that no
``except Exception`` on the way (gRPC's, ours) takes it for an error to handle.
"""

from __future__ import annotations

import contextlib
import enum
import signal
from collections.abc import Iterator
from types import FrameType

from .child import Child

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Phase(enum.Enum):
    WAITING = "waiting"  # for the server: nothing sent yet
    SENDING = "sending"  # the task's first event: it may be stored, or not yet
    RUNNING = "running"  # the task exists: signals are recorded (and forwarded)


class Interrupted(BaseException):
    """A signal came before the command started; ``phase`` says what was under way."""

    def __init__(self, signum: int, phase: Phase) -> None:
        super().__init__(signum)
        self.signum = signum
        self.phase = phase

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class Forwarder:
    """The handler of ``SIGNALS`` while ``run`` runs."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.child: Child | None = None
        self.phase = Phase.WAITING

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.child is not None:
            self.child.signal_group(signum)
        elif self.phase is not Phase.RUNNING:
            phase, self.phase = self.phase, Phase.RUNNING  # raise once; record the rest
            raise Interrupted(signum, phase)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Forwarder]:
        """Handle the signals (unblocked: a parent may have blocked them), then restore."""
        previous = {sig: signal.signal(sig, self) for sig in SIGNALS}
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
