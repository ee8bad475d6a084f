"""The fold's common case in place: output of a running task, its tail kept in Python.

Most committed events are output (token, stdout, stderr) of a running task. Folding them
moves no status, usage, cost or label, only the task's counters and its output tail, so
``OutputFold`` updates the task's state in place instead of copying it, and keeps the
tail's new text as Python strings: rewriting a 4 KiB protobuf string per task per batch
cost more than everything else the fold does. The text is written into the state
(``flush``) before anything reads the state's tail: a snapshot, a checkpoint, or a fold
of another kind of event.

The tail is the same as ``fold.fold`` gives: keeping the last N bytes of a text on a
character boundary gives the same result however the text was split and trimmed on the
way (``tests/test_output_fold.py`` checks the two against each other).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import state_pb2 as state_pb

from execstream_server.domain.events import OUTPUT_BODIES
from execstream_server.domain.fold import trim_tail
from execstream_server.domain.lifecycle import RUNNING


@dataclass(slots=True)
class _Pending:
    """A task's tail as Python text: the state's tail, then newer texts (``chars`` long)."""

    texts: list[str]
    chars: int
    cut: bool = False


@dataclass(slots=True)
class OutputFold:
    """See the module docstring; ``tail_bytes`` is ``--output-tail-bytes``."""

    tail_bytes: int
    _pending: dict[str, _Pending] = field(default_factory=dict)

    def fold(self, state: state_pb.TaskState, events: Sequence[events_pb.ExecutionEvent]) -> bool:
        """Fold ``events`` (of ``state``'s task, in order) in place if all are output of a
        running task, and say so; otherwise change nothing and return False."""
        if state.status != RUNNING:
            return False
        texts: list[str] = []
        attempt = state.attempt
        for event in events:
            body = event.WhichOneof("body")
            if body not in OUTPUT_BODIES:
                return False
            text = getattr(event, body).text
            if text:
                texts.append(text)
            if event.attempt > attempt:
                attempt = event.attempt
        last = events[-1]
        if texts and self.tail_bytes > 0:
            self._add_text(state, texts)
        state.attempt = attempt
        state.event_count += len(events)
        state.last_seq = last.seq
        state.last_revision = last.revision
        state.updated_time.CopyFrom(last.time)
        return True

    def _add_text(self, state: state_pb.TaskState, texts: list[str]) -> None:
        pending = self._pending.get(state.task_id)
        if pending is None:
            tail = state.output_tail
            pending = self._pending[state.task_id] = _Pending([tail] if tail else [], len(tail))
        pending.texts += texts
        pending.chars += sum(map(len, texts))
        if pending.chars > 4 * self.tail_bytes:  # bound the memory of a task between reads
            tail, cut = trim_tail("".join(pending.texts), self.tail_bytes)
            pending.texts = [tail]
            pending.chars = len(tail)
            pending.cut = pending.cut or cut

    def flush(self, state: state_pb.TaskState) -> None:
        """Write the task's pending text into its state's tail (before the tail is read)."""
        pending = self._pending.pop(state.task_id, None)
        if pending is None:
            return
        tail, cut = trim_tail("".join(pending.texts), self.tail_bytes)
        state.output_tail = tail
        state.output_tail_truncated = state.output_tail_truncated or cut or pending.cut

    def flush_all(self, states: Iterable[state_pb.TaskState]) -> None:
        for state in states:
            self.flush(state)

    def pending_chars(self, task_id: str) -> int:
        """How much text the task holds outside its state (at most four times ``tail_bytes``)."""
        pending = self._pending.get(task_id)
        return pending.chars if pending is not None else 0
