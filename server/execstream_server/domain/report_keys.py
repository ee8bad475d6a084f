"""What a filtered watcher needs to know of a stored report frame, without parsing it.

Beside each report's frame the store keeps its keys: the sidecar, the distinct task ids in
first-seen order, and per entry the index of its task and its EventKind. A watcher filtered
by task, sidecar or kind picks its entries from the keys (``matching``) and sends
only those (``watch_frames``); the task ids are also what a ``(task_id, first_revision)`` index
needs for replaying one task without reading every report.

Encoding (``encode``/``decode``): varint count and length-prefixed UTF-8 of each task id, then
varint entry count and, per entry, varint task index and one kind byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from execstream_server.domain.frames import FrameError, read_varint, varint

if TYPE_CHECKING:  # the hub imports the records that hold these keys
    from execstream_server.domain.hub import WatchFilter


@dataclass(frozen=True, slots=True)
class ReportKeys:
    sidecar_id: str
    task_ids: tuple[str, ...]
    task_index: bytes  # one varint per entry: its task's index in task_ids
    kinds: bytes  # one byte per entry: its EventKind

    @staticmethod
    def of(sidecar_id: str, entries: Sequence[tuple[str, int]]) -> ReportKeys:
        """Keys of a report whose entries are ``(task_id, kind)`` in order."""
        index: dict[str, int] = {}
        positions = []
        for task_id, _ in entries:
            positions.append(index.setdefault(task_id, len(index)))
        return ReportKeys(
            sidecar_id,
            tuple(index),
            b"".join(varint(p) for p in positions),
            bytes(kind for _, kind in entries),
        )

    def positions(self) -> list[int]:
        """Each entry's task index, in entry order."""
        if len(self.task_index) == len(self.kinds):  # every index is one byte (< 128)
            return list(self.task_index)
        out, pos, data = [], 0, self.task_index
        while pos < len(data):
            value, pos = read_varint(data, pos)
            out.append(value)
        return out

    def matching(self, watch_filter: WatchFilter) -> list[int] | None:
        """Indexes of the entries the filter keeps; None when it keeps them all."""
        if watch_filter.matches_all:
            return None
        if watch_filter.sidecar_ids is not None and self.sidecar_id not in watch_filter.sidecar_ids:
            return []
        wanted_tasks = None
        if watch_filter.task_ids is not None:
            wanted_tasks = {i for i, t in enumerate(self.task_ids) if t in watch_filter.task_ids}
            if not wanted_tasks:
                return []
        kinds = watch_filter.kinds
        return [
            i
            for i, (task, kind) in enumerate(zip(self.positions(), self.kinds, strict=True))
            if (wanted_tasks is None or task in wanted_tasks) and (kinds is None or kind in kinds)
        ]


def encode(keys: ReportKeys) -> bytes:
    parts = [varint(len(keys.task_ids))]
    for task_id in keys.task_ids:
        raw = task_id.encode()
        parts += (varint(len(raw)), raw)
    parts += (varint(len(keys.kinds)), keys.task_index, keys.kinds)
    return b"".join(parts)


def _task_ids(data: bytes) -> tuple[list[str], int]:
    """The task ids at the start of encoded keys, and where the entries start."""
    try:
        count, pos = read_varint(data, 0)
        task_ids = []
        for _ in range(count):
            size, pos = read_varint(data, pos)
            task_ids.append(data[pos : pos + size].decode())
            pos += size
    except UnicodeDecodeError as exc:
        raise FrameError(f"report keys are corrupt: {exc}") from exc
    return task_ids, pos


def task_ids_of(data: bytes) -> list[str]:
    """Only the task ids of encoded keys: for a reader that looks for tasks in many
    reports without wanting each entry's task and kind."""
    return _task_ids(data)[0]


def decode(sidecar_id: str, data: bytes) -> ReportKeys:
    """Keys stored beside a frame (the sidecar is stored in its own column)."""
    task_ids, pos = _task_ids(data)
    entries, pos = read_varint(data, pos)
    index_end = pos
    for _ in range(entries):
        _, index_end = read_varint(data, index_end)
    kinds = data[index_end : index_end + entries]
    if len(kinds) != entries or index_end + entries != len(data):
        raise FrameError("report keys do not match their entry count")
    return ReportKeys(sidecar_id, tuple(task_ids), data[pos:index_end], kinds)
