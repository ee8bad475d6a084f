"""Stateless checks of incoming messages against the configured limits.

Runs before anything touches the log, so a malformed message changes nothing. Each problem
becomes a FieldViolation whose path (``events[3].stdout.text``) and text name the limit.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from execstream_server.config import (
    MAX_BACKEND_LENGTH,
    MAX_TIMESTAMP_SECONDS,
    MIN_TIMESTAMP_SECONDS,
    Limits,
)
from execstream_server.domain.bounds import (
    MAX_NANOS,
    check_timestamp,
    check_token_counts,
    event_size_violation,
)
from execstream_server.domain.errors import FieldViolation, InvalidArgumentError
from execstream_server.domain.events import (
    OUTPUT_BODIES,
    SERVER_BODIES,
    TERMINAL_STATUSES,
    status_name,
)

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]*")
BACKEND_PATTERN = re.compile(r"[a-z0-9][a-z0-9._\-]*")
ID_CHARSET = "[A-Za-z0-9._:-], starting with a letter or digit"
_MAX_VIOLATIONS = 20


def check_id(value: str, field: str, limits: Limits) -> FieldViolation | None:
    """Return a violation when an id is empty, too long or outside the charset."""
    if not value:
        return FieldViolation(field, "must not be empty")
    if len(value) > limits.max_id_length:
        return FieldViolation(
            field,
            f"is {len(value)} characters; the limit is {limits.max_id_length}",
            limits.max_id_length,
        )
    if not ID_PATTERN.fullmatch(value):
        return FieldViolation(field, f"has characters outside {ID_CHARSET}")
    return None


def _utf8_len_exceeds(text: str, limit: int) -> bool:
    # A character is at most 4 UTF-8 bytes: skip the encode for the common short text.
    return len(text) * 4 > limit and len(text.encode()) > limit


def _check_text(text: str, field: str, limit: int, out: list[FieldViolation]) -> None:
    if _utf8_len_exceeds(text, limit):
        out.append(
            FieldViolation(field, f"is {len(text.encode())} bytes; the limit is {limit}", limit)
        )


def _check_usage(
    usage: events_pb.Usage, field: str, limits: Limits, out: list[FieldViolation]
) -> None:
    _check_text(usage.model, f"{field}.model", limits.max_name_length, out)
    if usage.backend:
        _check_backend(usage.backend, f"{field}.backend", out)
    check_token_counts(usage, field, out)
    if usage.reasoning_tokens > usage.output_tokens:
        out.append(
            FieldViolation(
                f"{field}.reasoning_tokens",
                "is a subset of output_tokens and cannot exceed it",
            )
        )


def _check_backend(backend: str, field: str, out: list[FieldViolation]) -> None:
    if len(backend) > MAX_BACKEND_LENGTH or not BACKEND_PATTERN.fullmatch(backend):
        out.append(
            FieldViolation(
                field,
                f"must be 1-{MAX_BACKEND_LENGTH} characters of [a-z0-9._-]",
                MAX_BACKEND_LENGTH,
            )
        )


def _check_started(
    body: events_pb.Started, field: str, limits: Limits, out: list[FieldViolation]
) -> None:
    if body.backend:
        _check_backend(body.backend, f"{field}.backend", out)
    _check_text(body.model, f"{field}.model", limits.max_name_length, out)
    _check_text(body.description, f"{field}.description", limits.max_summary_length, out)
    if len(body.labels) > limits.max_labels:
        out.append(
            FieldViolation(
                f"{field}.labels",
                f"has {len(body.labels)} labels; the limit is {limits.max_labels}",
                limits.max_labels,
            )
        )
    for key, value in body.labels.items():
        path = f"{field}.labels[{_shown_key(key, limits)}]"
        if not key or len(key) > limits.max_label_key_length:
            out.append(
                FieldViolation(
                    path,
                    f"key is {len(key)} characters; it must be 1-{limits.max_label_key_length}",
                    limits.max_label_key_length,
                )
            )
        if len(value) > limits.max_label_value_length:
            out.append(
                FieldViolation(
                    path,
                    f"is {len(value)} characters; the limit is {limits.max_label_value_length}",
                    limits.max_label_value_length,
                )
            )


def _shown_key(key: str, limits: Limits) -> str:
    """A label key as a field path shows it: cut short, so an error never echoes a huge key
    (it travels in the status trailer, which clients bound to a few KiB)."""
    keep = limits.max_label_key_length + 16
    return key if len(key) <= keep else key[:keep] + "..."


def _check_body(
    event: events_pb.ExecutionEvent, field: str, limits: Limits, out: list[FieldViolation]
) -> None:
    body = event.WhichOneof("body")
    if body is None:
        out.append(FieldViolation(f"{field}.body", "must be set (started, token, stdout, ...)"))
    elif body in ("token", "stdout", "stderr"):
        text = getattr(event, body).text
        _check_text(text, f"{field}.{body}.text", limits.max_text_bytes, out)
    elif body == "started":
        _check_started(event.started, f"{field}.started", limits, out)
    elif body == "status":
        status = event.status.status
        if (
            status == events_pb.TASK_STATUS_UNSPECIFIED
            or status not in events_pb.TaskStatus.values()
        ):
            out.append(
                FieldViolation(f"{field}.status.status", "must be PENDING, RUNNING or RETRYING")
            )
        elif status in TERMINAL_STATUSES:
            out.append(
                FieldViolation(
                    f"{field}.status.status",
                    f"{status_name(status)} is terminal: report it with a finished event",
                )
            )
        _check_text(event.status.message, f"{field}.status.message", limits.max_text_bytes, out)
        _check_usage(event.status.usage, f"{field}.status.usage", limits, out)
    elif body == "error":
        _check_text(event.error.message, f"{field}.error.message", limits.max_text_bytes, out)
        _check_text(event.error.code, f"{field}.error.code", limits.max_name_length, out)
        _check_usage(event.error.usage, f"{field}.error.usage", limits, out)
    elif body == "tool_call":
        call = event.tool_call
        _check_text(call.tool_name, f"{field}.tool_call.tool_name", limits.max_name_length, out)
        for name in ("arguments_summary", "result_summary", "error"):
            _check_text(
                getattr(call, name), f"{field}.tool_call.{name}", limits.max_summary_length, out
            )
    elif body == "finished":
        finished = event.finished
        if (
            finished.outcome == events_pb.OUTCOME_UNSPECIFIED
            or finished.outcome not in events_pb.Outcome.values()
        ):
            out.append(
                FieldViolation(
                    f"{field}.finished.outcome", "must be SUCCEEDED, FAILED or CANCELLED"
                )
            )
        _check_text(finished.error, f"{field}.finished.error", limits.max_text_bytes, out)
        _check_usage(finished.usage, f"{field}.finished.usage", limits, out)
    elif body == "usage":
        _check_usage(event.usage.usage, f"{field}.usage.usage", limits, out)
    elif body in SERVER_BODIES:
        out.append(FieldViolation(f"{field}.{body}", "is written by the server, never sent"))


def _plain_output(
    event: events_pb.ExecutionEvent,
    known_ids: Collection[str],
    checked: set[str],
    limits: Limits,
) -> bool:
    """Whether ``event`` is output with a valid task id, a seq, a time in range and a text
    within the limit: the common event, which then needs no other check (and no field
    paths built for it). False sends it through ``event_violations``, which names what
    is wrong, if anything."""
    task_id = event.task_id
    if task_id not in checked and task_id not in known_ids:
        if not (0 < len(task_id) <= limits.max_id_length and ID_PATTERN.fullmatch(task_id)):
            return False
        checked.add(task_id)
    body = event.WhichOneof("body")
    if (
        body not in OUTPUT_BODIES
        or not event.seq
        or _utf8_len_exceeds(getattr(event, body).text, limits.max_text_bytes)
    ):
        return False
    time = event.time  # unset reads as 0: in range
    return (
        MIN_TIMESTAMP_SECONDS <= time.seconds <= MAX_TIMESTAMP_SECONDS
        and 0 <= time.nanos <= MAX_NANOS
    )


def event_violations(
    event: events_pb.ExecutionEvent, index: int, limits: Limits
) -> Iterable[FieldViolation]:
    """Yield what is wrong with one event of a report."""
    field = f"events[{index}]"
    out: list[FieldViolation] = []
    bad_id = check_id(event.task_id, f"{field}.task_id", limits)
    if bad_id:
        out.append(bad_id)
    if event.seq == 0:
        out.append(
            FieldViolation(f"{field}.seq", "must be at least 1 (seq counts from 1 per task)")
        )
    time = event.time  # unset reads as 0: in range
    if not (
        MIN_TIMESTAMP_SECONDS <= time.seconds <= MAX_TIMESTAMP_SECONDS
        and 0 <= time.nanos <= MAX_NANOS
    ):
        check_timestamp(time, f"{field}.time", out)
    _check_body(event, field, limits, out)
    return out


def validate_report(
    report: service_pb.ProgressReport, limits: Limits, known_ids: Collection[str] = ()
) -> None:
    """Raise InvalidArgumentError listing what is wrong with a ProgressReport, if anything.

    ``known_ids`` are task ids validated before (the stream's earlier reports): their
    output events take the short path (``_plain_output``).
    """
    violations: list[FieldViolation] = []
    bad_sidecar = check_id(report.sidecar_id, "sidecar_id", limits)
    if bad_sidecar:
        violations.append(bad_sidecar)
    count = len(report.events)
    if count == 0:
        violations.append(FieldViolation("events", "must hold at least one event"))
    elif count > limits.max_events_per_report:
        violations.append(
            FieldViolation(
                "events",
                f"has {count} events; the limit is {limits.max_events_per_report}",
                limits.max_events_per_report,
            )
        )
    else:
        checked: set[str] = set()  # ids found valid in this report
        for index, event in enumerate(report.events):
            if _plain_output(event, known_ids, checked, limits):
                continue
            violations.extend(event_violations(event, index, limits))
            if len(violations) >= _MAX_VIOLATIONS:
                break
    if violations:
        raise InvalidArgumentError(violations)
    # Only what the contract defines is stored: an unknown field would be replayed to
    # every watcher for ever (and may be larger than a client can receive).
    report.DiscardUnknownFields()
    if report.ByteSize() > limits.max_event_bytes:
        too_big = [
            v
            for i, event in enumerate(report.events)
            if (v := event_size_violation(event, f"events[{i}]", limits.max_event_bytes))
        ]
        if too_big:
            raise InvalidArgumentError(too_big[:_MAX_VIOLATIONS])


def validate_ids(values: Iterable[str], field: str, limits: Limits) -> None:
    """Check a filter list (task_ids, sidecar_ids) of a read request."""
    values = list(values)
    if len(values) > limits.max_filter_ids:
        raise InvalidArgumentError(
            [
                FieldViolation(
                    field,
                    f"has {len(values)} ids; the limit is {limits.max_filter_ids}",
                    limits.max_filter_ids,
                )
            ]
        )
    violations = [
        v for i, value in enumerate(values) if (v := check_id(value, f"{field}[{i}]", limits))
    ]
    if violations:
        raise InvalidArgumentError(violations)


def validate_statuses(values: Iterable[int], field: str) -> None:
    """Check a status filter: each a TaskStatus value other than UNSPECIFIED."""
    known = set(events_pb.TaskStatus.values()) - {events_pb.TASK_STATUS_UNSPECIFIED}
    violations = [
        FieldViolation(f"{field}[{i}]", f"{value} is not a TaskStatus (1..{max(known)})")
        for i, value in enumerate(values)
        if value not in known
    ]
    if violations:
        raise InvalidArgumentError(violations[:_MAX_VIOLATIONS])
