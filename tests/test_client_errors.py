"""How the client reads a refusal: a status without a message is its code, in one line."""

from __future__ import annotations

import grpc
from execstream.client import ServerRefused, StatusDetails
from execstream.client.errors import details_of, refused


def _error(code: grpc.StatusCode, details: str | None) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


def test_a_status_without_a_message_reads_as_its_code() -> None:
    assert str(StatusDetails(code=grpc.StatusCode.NOT_FOUND, message="")) == "NOT_FOUND"
    error = refused(_error(grpc.StatusCode.NOT_FOUND, None))
    assert isinstance(error, ServerRefused)
    assert str(error.status) == "NOT_FOUND"
    assert "\n" not in str(error)
    assert details_of(_error(grpc.StatusCode.NOT_FOUND, None)) == ""


def test_a_status_with_a_message_keeps_it() -> None:
    error = _error(grpc.StatusCode.FAILED_PRECONDITION, "seq 5 after 3")
    assert details_of(error) == "seq 5 after 3"
    assert str(refused(error).status) == "FAILED_PRECONDITION: seq 5 after 3"
