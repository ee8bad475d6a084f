"""One task's side of a reporter: numbering its events and building them from plain values.

Shared by the sync and asyncio reporters, so both number and shape events the same way; only
how an event is handed over (a thread-safe queue or the loop) differs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from execstream.v1 import events_pb2 as events_pb

Enqueue = Callable[[events_pb.ExecutionEvent], None]


class TaskReporter:
    """Report one task's progress; every call queues one event with the next seq.

    Calls return at once: the reporter batches and sends in the background, and its
    ``flush()`` (or leaving its ``with`` block) waits until the server has committed them.
    """

    def __init__(self, task_id: str, sidecar_id: str, enqueue: Enqueue, next_seq: int = 1) -> None:
        if not task_id:
            raise ValueError("task_id must not be empty")
        if next_seq < 1:
            raise ValueError(f"next_seq must be at least 1, not {next_seq}")
        self.task_id = task_id
        self.sidecar_id = sidecar_id
        self._enqueue = enqueue
        self._next_seq = next_seq
        self._attempt = 1
        # Merged into ``started``'s labels: lets a wrapper (run-llm) label a task it does not start.
        self.default_labels: dict[str, str] = {}
        self._lock = threading.Lock()  # seq order must equal queue order, even across threads

    @property
    def last_seq(self) -> int:
        """The seq of the last event queued (0 before the first)."""
        return self._next_seq - 1

    @property
    def attempt(self) -> int:
        return self._attempt

    def _emit(self, **body: object) -> events_pb.ExecutionEvent:
        with self._lock:
            event = events_pb.ExecutionEvent(
                task_id=self.task_id,
                seq=self._next_seq,
                sidecar_id=self.sidecar_id,
                attempt=self._attempt,
                **body,  # type: ignore[arg-type]
            )
            stamp = Timestamp()
            stamp.GetCurrentTime()
            event.time.CopyFrom(stamp)
            self._enqueue(event)
            self._next_seq += 1
            return event

    def started(
        self,
        *,
        backend: str = "shell",
        model: str = "",
        description: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> events_pb.ExecutionEvent:
        """The first event of a task: where it runs and what it is."""
        return self._emit(
            started=events_pb.Started(
                backend=backend,
                model=model,
                description=description,
                labels={**self.default_labels, **(labels or {})},
            )
        )

    def token(self, text: str) -> events_pb.ExecutionEvent:
        return self._emit(token=events_pb.TokenChunk(text=text))

    def stdout(self, text: str) -> events_pb.ExecutionEvent:
        return self._emit(stdout=events_pb.OutputChunk(text=text))

    def stderr(self, text: str) -> events_pb.ExecutionEvent:
        return self._emit(stderr=events_pb.OutputChunk(text=text))

    def status(
        self,
        status: events_pb.TaskStatus.ValueType,
        message: str = "",
        usage: events_pb.Usage | None = None,
    ) -> events_pb.ExecutionEvent:
        """A lifecycle change; RETRYING starts a new attempt for the events after it.

        ``usage`` is what the failed attempt billed, so it is priced even though it is retried.
        """
        event = self._emit(
            status=events_pb.StatusChange(status=status, message=message, usage=usage)
        )
        if status == events_pb.TASK_STATUS_RETRYING:
            with self._lock:
                self._attempt += 1
        return event

    def error(
        self,
        message: str,
        code: str = "",
        retryable: bool = False,
        usage: events_pb.Usage | None = None,
    ) -> events_pb.ExecutionEvent:
        return self._emit(
            error=events_pb.ErrorReport(
                message=message,
                code=code,
                retryable=retryable,
                attempt=self._attempt,
                usage=usage,
            )
        )

    def tool_call(
        self,
        tool_name: str,
        *,
        arguments_summary: str = "",
        result_summary: str = "",
        ok: bool = True,
        error: str = "",
        iteration: int = 0,
    ) -> events_pb.ExecutionEvent:
        return self._emit(
            tool_call=events_pb.ToolCall(
                tool_name=tool_name,
                arguments_summary=arguments_summary,
                result_summary=result_summary,
                ok=ok,
                error=error,
                iteration=iteration,
            )
        )

    def usage(self, usage: events_pb.Usage) -> events_pb.ExecutionEvent:
        """The current attempt's usage so far (cumulative), for the live cost meter.

        Each update replaces the attempt's previous one; the attempt's final usage (on
        ``finished`` or a RETRYING ``status``) replaces the last. Mark estimates with
        ``usage.estimated``.
        """
        return self._emit(usage=events_pb.UsageUpdate(usage=usage))

    def finished(
        self,
        outcome: events_pb.Outcome.ValueType = events_pb.OUTCOME_SUCCEEDED,
        *,
        usage: events_pb.Usage | None = None,
        exit_code: int | None = None,
        error: str = "",
    ) -> events_pb.ExecutionEvent:
        """The terminal event: the server refuses anything after it for this task."""
        finished = events_pb.Finished(outcome=outcome, usage=usage, error=error)
        if exit_code is not None:
            finished.exit_code = exit_code
        return self._emit(finished=finished)

    def raw(self, event: events_pb.ExecutionEvent) -> events_pb.ExecutionEvent:
        """Queue an event built elsewhere (``execstream report``), numbering it if it has no seq.

        A given seq must be the next one: the reporter keeps each task gap-free.
        """
        with self._lock:
            if event.seq and event.seq != self._next_seq:
                raise ValueError(
                    f"seq: is {event.seq} for task {self.task_id}; the next seq is {self._next_seq}"
                )
            event.task_id = self.task_id
            event.seq = self._next_seq
            if not event.sidecar_id:
                event.sidecar_id = self.sidecar_id
            if not event.HasField("time"):
                event.time.GetCurrentTime()
            self._enqueue(event)
            self._next_seq += 1
            return event
