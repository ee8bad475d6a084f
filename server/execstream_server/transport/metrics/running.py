"""What running tasks have cost so far: a gauge, because that figure may go down.

A task's running cost is its settled attempts plus its latest usage update, and the update
is provisional: an estimate may be revised down when the attempt's final usage arrives. A
counter cannot go down, so the cost counters take a task at its final figure when it
finishes, and this gauge shows the running part until then (the two never hold a task at
the same time). Every replica folds the whole log, so each shows the same gauge: combine
replicas with ``max``, not ``sum``.
"""

from __future__ import annotations

from collections.abc import Callable

from execstream.v1 import state_pb2 as state_pb
from prometheus_client import Gauge

from execstream_server.domain.cost import committed_nanos
from execstream_server.domain.lifecycle import is_terminal

NANOS_PER_USD = 1_000_000_000
Labeller = Callable[[state_pb.TaskState], tuple[str, ...]]


class RunningCost:
    """Keeps exact integer sums per label set and shows them as USD."""

    def __init__(self, gauge: Gauge, labeller: Labeller) -> None:
        self._gauge = gauge
        self._labeller = labeller
        self._nanos: dict[tuple[str, ...], int] = {}

    def change(self, old: state_pb.TaskState | None, new: state_pb.TaskState) -> None:
        """Move one task from ``old`` to ``new`` (None: a new task)."""
        if old is not None:
            if (
                committed_nanos(old) == committed_nanos(new)
                and old.status == new.status
                and not _relabelled(old, new)
            ):
                return  # output of a running task: the common case
            self._add(old, -1)
        self._add(new, 1)

    def _add(self, state: state_pb.TaskState, sign: int) -> None:
        nanos = 0 if is_terminal(state.status) else committed_nanos(state)
        if not nanos:
            return
        labels = self._labeller(state)
        total = self._nanos.get(labels, 0) + sign * nanos
        self._nanos[labels] = total
        self._gauge.labels(*labels).set(total / NANOS_PER_USD)


def _relabelled(old: state_pb.TaskState, new: state_pb.TaskState) -> bool:
    """Whether the task's series may differ: a second ``started`` may name another backend,
    model or labels, and the task's running cost must then move to the new series."""
    return (
        old.backend != new.backend
        or old.model != new.model
        or old.usage.model != new.usage.model
        or old.labels != new.labels
    )
