"""A deterministic test sidecar that resends after failures, and the exactly-once audit.

Each event's content is a function of (task, seq), so a resend is byte-identical and the
audit can tell a duplicate or a corrupted event from a correct one.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import grpc
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain.fold import fold

from .helpers import event

FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 300),
]


def sim_event(task_id: str, seq: int, last_seq: int) -> events_pb.ExecutionEvent:
    if seq == 1:
        return event(task_id, 1, "started", backend="shell", model="")
    if seq == last_seq:
        return event(task_id, seq, "finished", exit_code=0)
    return event(task_id, seq, "stdout", text=f"{task_id}:{seq}\n")


@dataclass
class SimSidecar:
    sidecar_id: str
    task_ids: list[str]
    events_per_task: int
    address: str
    seed: int = 0
    next_seq: dict[str, int] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)
    failures: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for task in self.task_ids:
            self.next_seq[task] = 1
            self.acked[task] = 0

    @property
    def done(self) -> bool:
        return all(self.acked[t] == self.events_per_task for t in self.task_ids)

    def _messages(self) -> list[service_pb.ProgressReport]:
        messages = []
        planned = dict(self.next_seq)
        for _ in range(self._rng.randint(1, 3)):
            events = []
            for _ in range(self._rng.randint(1, 12)):
                open_tasks = [t for t in self.task_ids if planned[t] <= self.events_per_task]
                if not open_tasks:
                    break
                task = self._rng.choice(open_tasks)
                events.append(sim_event(task, planned[task], self.events_per_task))
                planned[task] += 1
            if events:
                messages.append(
                    service_pb.ProgressReport(sidecar_id=self.sidecar_id, events=events)
                )
        return messages

    def _resync(self, stub: service_pb2_grpc.ExecutionServiceStub) -> None:
        snap = stub.GetSnapshot(
            service_pb.GetSnapshotRequest(task_ids=self.task_ids), timeout=5, wait_for_ready=True
        )
        known = {t.task_id: t.last_seq for t in snap.tasks}
        for task in self.task_ids:
            self.next_seq[task] = known.get(task, 0) + 1
            self.acked[task] = max(self.acked[task], known.get(task, 0))

    def run(self, stop: threading.Event, deadline: float) -> None:
        channel = grpc.insecure_channel(self.address, options=FAST_RECONNECT)
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        needs_resync = False
        while not self.done and not stop.is_set() and time.monotonic() < deadline:
            try:
                if needs_resync:
                    self._resync(stub)
                    needs_resync = False
                    continue
                messages = self._messages()
                response = stub.ReportProgress(iter(messages), timeout=5, wait_for_ready=True)
                for ack in response.tasks:
                    self.acked[ack.task_id] = max(self.acked[ack.task_id], ack.last_seq)
                    self.next_seq[ack.task_id] = ack.last_seq + 1
            except grpc.RpcError:
                self.failures += 1
                needs_resync = True
                time.sleep(0.02)  # a sidecar's retry pause, not a wait for state
        channel.close()


def read_log(address: str, expected_revision: int) -> list[events_pb.ExecutionEvent]:
    channel = grpc.insecure_channel(address)
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    events: list[events_pb.ExecutionEvent] = []
    if expected_revision:
        call = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0), timeout=60)
        for message in call:
            events.extend(message.events)
            if events and events[-1].revision >= expected_revision:
                break
        call.cancel()
    channel.close()
    return events


def audit(address: str, sidecars: list[SimSidecar]) -> dict[str, int]:
    """Assert exactly-once, gap-free revisions, uncorrupted events and state == fold(log)."""
    channel = grpc.insecure_channel(address)
    stub = service_pb2_grpc.ExecutionServiceStub(channel)
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10_000), timeout=30)
    channel.close()
    log = read_log(address, snap.revision)
    assert [e.revision for e in log] == list(range(1, snap.revision + 1)), "revisions not gap-free"
    seqs: dict[str, list[int]] = {}
    folded: dict[str, state_pb.TaskState] = {}
    owners = {task: sc.sidecar_id for sc in sidecars for task in sc.task_ids}
    total = {sc.sidecar_id: sc.events_per_task for sc in sidecars}
    for ev in log:
        seqs.setdefault(ev.task_id, []).append(ev.seq)
        assert ev.sidecar_id == owners[ev.task_id]
        expected = sim_event(ev.task_id, ev.seq, total[ev.sidecar_id])
        assert ev.WhichOneof("body") == expected.WhichOneof("body")
        if ev.HasField("stdout"):
            assert ev.stdout.text == expected.stdout.text, "corrupted event"
        folded[ev.task_id] = fold(folded.get(ev.task_id), [ev], tail_bytes=4096)
    for task, got in seqs.items():
        assert got == list(range(1, len(got) + 1)), f"task {task}: duplicate or missing seq"
    for sidecar in sidecars:
        for task, acked in sidecar.acked.items():
            assert len(seqs.get(task, [])) >= acked, f"task {task}: acknowledged event lost"
    states = {t.task_id: t for t in snap.tasks}
    assert states == folded, "task state differs from the fold of the log"
    return {task: len(s) for task, s in seqs.items()}
