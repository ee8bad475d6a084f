"""A resilient reporter and a resuming watcher, for replicas on a shared store.

The replicas themselves are ``processes.ServerProcess.on_store``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import grpc
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .helpers import stub_for


@dataclass
class Reporter:
    """A sidecar that reports ``tasks`` tasks of ``outputs`` events each, one batch per call.

    On UNAVAILABLE it resends the same batch (a duplicate is acknowledged, never stored
    twice), switching to the next address when ``addresses`` has several: what a sidecar
    behind a load balancer sees when a replica or Redis goes away.
    """

    sidecar_id: str
    addresses: list[str]
    tasks: int
    outputs: int
    batch: int = 8
    acked: dict[str, int] = field(default_factory=dict)
    unavailable: int = 0
    last_revision: int = 0
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def batches(self) -> list[list[events_pb.ExecutionEvent]]:
        from .helpers import task_events

        events: list[events_pb.ExecutionEvent] = []
        for t in range(self.tasks):
            events += task_events(f"{self.sidecar_id}-t{t}", self.outputs)
        return [events[i : i + self.batch] for i in range(0, len(events), self.batch)]

    def run(self) -> None:
        target = 0
        channel, stub = stub_for(self.addresses[target])
        try:
            for events in self.batches():
                while not self._stop.is_set():
                    message = service_pb.ProgressReport(sidecar_id=self.sidecar_id, events=events)
                    try:
                        response = stub.ReportProgress(iter([message]), timeout=10)
                    except grpc.RpcError as exc:
                        if exc.code() not in (
                            grpc.StatusCode.UNAVAILABLE,
                            grpc.StatusCode.DEADLINE_EXCEEDED,
                        ):
                            raise
                        self.unavailable += 1
                        if len(self.addresses) > 1:
                            channel.close()
                            target = (target + 1) % len(self.addresses)
                            channel, stub = stub_for(self.addresses[target])
                        self._stop.wait(0.05)
                        continue
                    self.acked.update({ack.task_id: ack.last_seq for ack in response.tasks})
                    self.last_revision = max(self.last_revision, response.last_revision)
                    break
        except BaseException as exc:
            self.error = exc
        finally:
            channel.close()

    @property
    def expected_events(self) -> int:
        return self.tasks * (self.outputs + 2)

    @property
    def done(self) -> bool:
        return sum(self.acked.values()) == self.expected_events

    def start(self) -> Reporter:
        self._thread = threading.Thread(target=self.run, name=f"reporter-{self.sidecar_id}")
        self._thread.start()
        return self

    def join(self, timeout: float = 60.0) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(10)
            raise AssertionError(f"reporter {self.sidecar_id} did not finish: {self.acked}")
        if self.error is not None:
            raise AssertionError(f"reporter {self.sidecar_id} failed: {self.error!r}")


class Watcher:
    """Watches one replica from revision 0 in a thread, resuming after its last revision."""

    def __init__(self, address: str, *, live: bool = False) -> None:
        self.address = address
        self.live = live  # the first call watches from now, without replay
        self.events: list[events_pb.ExecutionEvent] = []
        self.resumes = 0
        self.ended: list[str] = []  # why each call ended, for failure messages
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._call: grpc.Future | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{address}", daemon=True)

    @property
    def revision(self) -> int:
        return self.events[-1].revision if self.events else 0

    def _run(self) -> None:
        channel, stub = stub_for(self.address)
        try:
            self._watch(stub)
        except BaseException as exc:
            self.error = exc
        finally:
            channel.close()

    def _watch(self, stub: service_pb2_grpc.ExecutionServiceStub) -> None:
        while not self._stop.is_set():
            request = service_pb.WatchExecutionRequest()
            if self.events or not self.live:
                request.after_revision = self.revision
            call = stub.WatchExecution(request)
            self._call = call
            try:
                for response in call:
                    self.events.extend(response.events)
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                self.resumes += 1
                self.ended.append(f"{exc.code().name}: {exc.details()}")
                self._stop.wait(0.05)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(10)
        if self.error is not None:
            raise AssertionError(f"watch on {self.address} failed: {self.error!r}")
