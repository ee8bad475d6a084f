"""Forward the command's output line by line, in the order it arrives, from one thread.

One reader waits on both pipes at once and reports each line as soon as its pipe has it,
so a line is reported after every line that reached us before it. That is the order the
command wrote in whenever its writes are further apart than our wake-up (a line a few
microseconds after one on the other stream can still arrive together with it; two pipes
carry no order between them). ``--pty`` gives the command one terminal for both streams:
then the order is exactly the order written, reported as stdout.

The reader always drains the pipes to their end and echoes what it reads, even after
reporting failed (the server went away), so the command never blocks on a full pipe and
its output is still shown; the first failure is kept for the caller. A closed echo (our
own reader went away, ``| head``) only stops the echo.
"""

from __future__ import annotations

import codecs
import errno
import os
import selectors
import threading
from collections.abc import Callable, Sequence
from typing import IO

# The server takes at most 64 KiB of text per event; a longer line is sent in pieces.
CHUNK_BYTES = 60 * 1024

Report = Callable[[str], object]
# A file descriptor to read, where its lines go, and where they are echoed (None: nowhere).
Stream = tuple[int, Report, "IO[str] | None"]


class _Stream:
    """One file descriptor's decoder, unfinished line, reporter and echo."""

    def __init__(self, fd: int, report: Report, echo: IO[str] | None) -> None:
        self.fd = fd
        self.report = report
        self.echo = echo
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""

    def lines(self, chunk: bytes, *, final: bool = False) -> list[str]:
        """Complete lines (and pieces of over-long ones) that ``chunk`` finishes."""
        self.pending += self.decoder.decode(chunk, final=final)
        *lines, self.pending = self.pending.split("\n")
        ready = [line + "\n" for line in lines]
        while len(self.pending.encode()) > CHUNK_BYTES:  # a huge line or a progress bar
            head = self.pending.encode()[:CHUNK_BYTES].decode("utf-8", errors="ignore")
            ready.append(head)
            self.pending = self.pending[len(head) :]
        if final and self.pending:
            ready.append(self.pending)
            self.pending = ""
        return ready


class OutputReader(threading.Thread):
    """Reads every stream given until each ends; ``stop_forwarding`` ends the reporting."""

    def __init__(self, streams: Sequence[Stream]) -> None:
        super().__init__(daemon=True, name="execstream-run-output")
        self._streams = {fd: _Stream(fd, report, echo) for fd, report, echo in streams}
        self._lock = threading.Lock()  # a line is reported whole, or not at all after stop
        self._forwarding = True
        self.failure: BaseException | None = None

    def run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd in self._streams:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    stream = self._streams[key.fd]
                    chunk = _read(key.fd)
                    for line in stream.lines(chunk, final=not chunk):
                        self._forward(stream, line)
                    if not chunk:
                        selector.unregister(key.fd)
                        os.close(key.fd)

    def stop_forwarding(self) -> None:
        """Report nothing more (the task is about to end); the pipes are still drained."""
        with self._lock:
            self._forwarding = False

    def _forward(self, stream: _Stream, text: str) -> None:
        with self._lock:
            # Once reporting failed, keep draining and echoing: what stopped the reporting
            # is said once the command ends, and the command's output must not vanish.
            if self._forwarding and self.failure is None:
                try:
                    stream.report(text)
                except BaseException as exc:
                    self.failure = exc
        if stream.echo is not None:
            try:
                stream.echo.write(text)
                stream.echo.flush()
            except (BrokenPipeError, ValueError):
                stream.echo = None


def _read(fd: int) -> bytes:
    """The next bytes of ``fd``; b"" at its end (a pty's end reads as EIO on Linux)."""
    try:
        return os.read(fd, 65536)
    except OSError as exc:
        if exc.errno == errno.EIO:
            return b""
        raise
