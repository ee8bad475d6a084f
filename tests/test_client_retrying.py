"""The Python client's retry rules, without a server: the shared table and the reason rules."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from execstream.adapters import RetryPolicy
from execstream.client import Backoff, StatusDetails
from execstream.client.backoff import Attempts
from execstream.client.retrying import Action, decide
from execstream.client.service_config import retry_policies, service_config_json

ROOT = Path(__file__).resolve().parents[1]


def status(code: grpc.StatusCode, reason: str = "", **fields: object) -> StatusDetails:
    return StatusDetails(code=code, message="", reason=reason, **fields)  # type: ignore[arg-type]


def test_the_package_carries_the_service_config_from_protos() -> None:
    source = ROOT / "protos" / "execstream" / "v1" / "service_config.json"
    assert service_config_json() == source.read_text()


def test_every_method_retries_unavailable_from_one_second_by_1_6_up_to_120() -> None:
    policies = retry_policies()
    assert set(policies) == {"GetSnapshot", "WatchExecution", "ReportProgress"}
    for policy in policies.values():
        assert policy.retryable == {grpc.StatusCode.UNAVAILABLE}
        assert (policy.initial, policy.maximum, policy.multiplier) == (1.0, 120.0, 1.6)


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    ],
)
def test_codes_without_a_rule_stop(code: grpc.StatusCode) -> None:
    assert decide("ReportProgress", status(code)).action is Action.STOP


def test_unavailable_is_retried() -> None:
    assert decide("WatchExecution", status(grpc.StatusCode.UNAVAILABLE)).action is Action.RETRY


def test_a_stream_reset_under_the_call_is_retried_like_unavailable() -> None:
    # The client never decides about its own cancellations: CANCELLED is RST_STREAM CANCEL.
    assert decide("ReportProgress", status(grpc.StatusCode.CANCELLED)).action is Action.RETRY


def test_a_rate_limit_waits_at_least_what_retry_info_asks() -> None:
    limited = status(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", retry_delay=2.5)
    decision = decide("ReportProgress", limited)
    assert (decision.action, decision.wait) == (Action.RETRY, 2.5)
    over = decide("WatchExecution", status(grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED"))
    assert (over.action, over.wait) == (Action.RETRY, 0.0)


def test_a_slow_watcher_resumes_from_its_resume_revision() -> None:
    slow = status(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW", metadata={"resume_revision": "41"}
    )
    decision = decide("WatchExecution", slow)
    assert (decision.action, decision.resume_revision) == (Action.RESUME, 41)


def test_a_message_too_large_is_never_retried() -> None:
    too_large = status(grpc.StatusCode.RESOURCE_EXHAUSTED)  # gRPC's own: no ErrorInfo
    assert decide("ReportProgress", too_large).action is Action.STOP


def test_out_of_range_relists_a_watch() -> None:
    future = status(grpc.StatusCode.OUT_OF_RANGE, "REVISION_IN_FUTURE")
    assert decide("WatchExecution", future).action is Action.RELIST


def test_backoff_grows_by_1_6_from_one_second_within_20_percent() -> None:
    attempts = Attempts(Backoff(give_up_after=None))
    for centre in (1.0, 1.6, 2.56, 4.096):
        delay = attempts.next_delay()
        assert delay is not None
        assert centre * 0.8 <= delay <= centre * 1.2


def test_backoff_caps_honours_a_server_wait_and_gives_up_at_its_budget() -> None:
    capped = Attempts(Backoff(maximum=3.0, give_up_after=None))
    assert all((capped.next_delay() or 0) <= 3.6 for _ in range(20))
    assert Attempts(Backoff(give_up_after=None)).next_delay(at_least=50.0) == 50.0
    assert Attempts(Backoff(give_up_after=0)).next_delay() is None


def test_the_llm_adapters_speak_the_same_backoff_vocabulary() -> None:
    policy = RetryPolicy(max_retries=3, initial=1.0, maximum=4.0, multiplier=2.0)
    assert 0.8 <= policy.delay_s(1) <= 1.2
    assert 3.2 <= policy.delay_s(5) <= 4.8
    assert policy.delay_s(1, retry_after_s=500.0) == policy.max_retry_after
