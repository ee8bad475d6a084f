"""``execstream run``'s output reader keeps the order lines arrive in, over many runs.

No server: the command's output goes straight to a list, as the reporter would get it.
Only ``--pty`` keeps the exact order written across stdout and stderr (two pipes carry no
order between them); without it, one reader reports each line after every line that
reached it first, even while reporting is slow: a line waiting in the other pipe is not
reported ahead of one being reported.
"""

from __future__ import annotations

import sys
import time

import pytest
from execstream.cli.child import Child, Outputs
from execstream.cli.output_reader import OutputReader

RUNS = 50
TURNS = 200

# Write a line to each stream in turn, each only once the previous one has been read out
# of its pipe (FIONREAD on our end of it says 0): any order we then see is ours.
_TAKE_TURNS = f"""
import fcntl, os, struct, termios, time
def drained(fd):
    while struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, bytes(4)))[0]:
        time.sleep(0.0002)
for i in range({TURNS}):
    fd = 1 if i % 2 == 0 else 2
    os.write(fd, b"line %d\\n" % i)
    drained(fd)
"""


def read_all(
    command: list[str], outputs: Outputs, *, slow_stdout: bool = False
) -> list[tuple[str, str]]:
    """What the reader reports, in order; ``slow_stdout``: each stdout line takes a while
    to report (a busy reporter), which is when a second reader would overtake it."""
    seen: list[tuple[str, str]] = []

    def report_stdout(text: str) -> None:
        if slow_stdout:
            time.sleep(0.002)
        seen.append(("out", text))

    streams = [(outputs.stdout, report_stdout, None)]
    if outputs.stderr is not None:
        streams.append((outputs.stderr, lambda text: seen.append(("err", text)), None))
    reader = OutputReader(streams)
    child = Child(command, outputs)
    outputs.close_child_ends()
    reader.start()
    assert child.wait() == 0
    reader.join(10)
    assert not reader.is_alive() and reader.failure is None
    return seen


def test_lines_from_two_pipes_are_reported_in_arrival_order_even_when_reporting_is_slow() -> None:
    seen = read_all([sys.executable, "-c", _TAKE_TURNS], Outputs.pipes(), slow_stdout=True)
    assert seen == [("out" if i % 2 == 0 else "err", f"line {i}\n") for i in range(TURNS)]


@pytest.mark.parametrize("run", range(RUNS))
def test_a_pty_keeps_the_exact_order_written(run: int) -> None:
    seen = read_all(["sh", "-c", "echo a; echo b >&2; echo c"], Outputs.pty())
    assert seen == [("out", "a\n"), ("out", "b\n"), ("out", "c\n")]


def test_a_pty_is_a_terminal_without_added_carriage_returns() -> None:
    seen = read_all(["sh", "-c", "test -t 1 && test -t 2 && printf 'x\\ny\\n'"], Outputs.pty())
    assert seen == [("out", "x\n"), ("out", "y\n")]
