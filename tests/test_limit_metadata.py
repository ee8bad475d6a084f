"""Numbers in ErrorInfo metadata are plain decimal strings a client parses as integers.

``limit`` and ``value`` are read by every client (Go's ``Uint``, Java's ``metadataLong``),
so a setting of one million is ``"1000000"``, never ``"1e+06"``; and a bound passed by a
filter names the field and its ``limit``.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from execstream.v1 import service_pb2 as service_pb
from execstream_server.config import Limits
from execstream_server.domain.errors import LimitExceededError, RateLimitedError

from .support.helpers import Stub, error_details


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1_000_000, "1000000"), (1e6, "1000000"), (5000.0, "5000"), (10**12, "1000000000000")],
)
def test_a_whole_setting_is_a_decimal_integer(value: float, shown: str) -> None:
    error = LimitExceededError("over", limit="--max-watchers", value=value)
    assert error.metadata() == {"limit": "--max-watchers", "value": shown}
    limited = RateLimitedError("slow down", flag="--x", value=value, retry_after_s=1.0)
    assert limited.metadata()["value"] == shown


def test_a_fractional_rate_keeps_its_fraction() -> None:
    limited = RateLimitedError("slow down", flag="--x", value=2.5, retry_after_s=1.0)
    assert limited.metadata()["value"] == "2.5"


def test_too_many_filter_ids_name_the_field_and_the_limit(stub: Stub) -> None:
    too_many = [f"t{i}" for i in range(Limits().max_filter_ids + 1)]
    calls: dict[str, Callable[[], object]] = {
        "watch": lambda: next(
            iter(stub.WatchExecution(service_pb.WatchExecutionRequest(task_ids=too_many)))
        ),
        "snapshot": lambda: stub.GetSnapshot(service_pb.GetSnapshotRequest(task_ids=too_many)),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        detail = error_details(info.value)["ErrorInfo"]
        limit = str(Limits().max_filter_ids)
        assert dict(detail.metadata) == {"field": "task_ids", "limit": limit}, name
