"""A watcher that keeps resuming from random points, and the checks of what it saw.

Each session opens WatchExecution with ``after_revision`` chosen at random among: the last
event it saw, the last progress (bookmark) revision it saw, or any earlier revision. It reads
for a random short while (or until the server is killed), then resumes. Every session is
kept, so the soak can check the watch guarantees against the final log:

- ordered and resumable: a session from R receives R+1, R+2, ... with nothing skipped;
- unique: no revision twice in a session;
- bookmarkable: a progress revision is exactly the last revision the session received (for
  an unfiltered watcher), and resuming from it (which sessions do) gives exactly the rest;
- everything a session saw equals the final log's event at that revision.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import grpc
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc

from .sidecar_sim import FAST_RECONNECT

Seen = tuple[str, int, str]  # task_id, seq, body kind


@dataclass
class Session:
    after: int
    events: list[tuple[int, Seen]] = field(default_factory=list)
    # (revision, number of events received before it) for each progress message
    bookmarks: list[tuple[int, int]] = field(default_factory=list)
    ended_by: str = ""


@dataclass
class ResumingWatcher:
    address: str
    seed: int
    sessions: list[Session] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._last_event = 0
        self._last_bookmark = 0

    @property
    def reached(self) -> int:
        """The highest revision this watcher has seen, as an event or a bookmark."""
        return max(self._last_event, self._last_bookmark)

    def _resume_point(self) -> int:
        roll = self._rng.random()
        if roll < 0.45:
            return self._last_event
        if roll < 0.8:
            return self._last_bookmark
        return self._rng.randint(0, max(self._last_event, self._last_bookmark))

    def _session(self, stub: service_pb2_grpc.ExecutionServiceStub, after: int) -> None:
        session = Session(after)
        self.sessions.append(session)
        request = service_pb.WatchExecutionRequest(after_revision=after)
        call = stub.WatchExecution(request, timeout=self._rng.uniform(0.2, 1.5))
        try:
            for response in call:
                for ev in response.events:
                    seen = (ev.task_id, ev.seq, ev.WhichOneof("body") or "")
                    session.events.append((ev.revision, seen))
                    self._last_event = max(self._last_event, ev.revision)
                if response.HasField("progress") and response.progress.revision:
                    session.bookmarks.append((response.progress.revision, len(session.events)))
                    self._last_bookmark = response.progress.revision
        except grpc.RpcError as exc:
            session.ended_by = exc.code().name

    def run(self, stop: threading.Event) -> None:
        channel = grpc.insecure_channel(self.address, options=FAST_RECONNECT)
        stub = service_pb2_grpc.ExecutionServiceStub(channel)
        while not stop.is_set():
            self._session(stub, self._resume_point())
            if self.sessions[-1].ended_by == "UNAVAILABLE":
                time.sleep(0.05)  # the server is down: a client's reconnect pause
        channel.close()


def check_sessions(
    watchers: list[ResumingWatcher], log: dict[int, Seen], head: int
) -> tuple[int, int]:
    """Assert the guarantees above; return (sessions, events checked)."""
    sessions = events = 0
    for watcher in watchers:
        for session in watcher.sessions:
            sessions += 1
            revisions = [revision for revision, _ in session.events]
            expected = list(range(session.after + 1, session.after + 1 + len(revisions)))
            assert revisions == expected, (
                f"session after {session.after}: got {revisions[:10]}..., not the rest in order"
            )
            for revision, seen in session.events:
                assert log.get(revision) == seen, (
                    f"revision {revision}: saw {seen}, log has it as {log.get(revision)}"
                )
            events += len(revisions)
            for bookmark, received in session.bookmarks:
                # An unfiltered watcher has every event through a bookmark, and none after.
                covered = session.after + received
                assert bookmark == covered, f"bookmark {bookmark} after event {covered}"
                assert bookmark <= head, f"bookmark {bookmark} beyond the log's head {head}"
    return sessions, events
