"""Turning request bytes into requests: lenient decoding, page tokens, watch filters.

The deserializers registered with gRPC never raise (``lenient``): a bad message becomes
``Undecodable`` and the handler answers INVALID_ARGUMENT (MALFORMED_MESSAGE), which a
deserializer cannot do (grpc-python would answer a bare INTERNAL).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable
from typing import Any

from execstream.v1 import service_pb2 as service_pb
from google.protobuf.message import DecodeError

from execstream_server.config import Limits
from execstream_server.domain.errors import (
    FieldViolation,
    InvalidArgumentError,
    MalformedMessageError,
)
from execstream_server.domain.events import KIND_BY_BODY
from execstream_server.domain.hub import WatchFilter
from execstream_server.domain.validation import validate_ids

_KNOWN_KINDS = frozenset(KIND_BY_BODY.values())


_TOKEN_PREFIX = "after:"


def encode_page_token(task_id: str) -> str:
    """Opaque to clients: the last task id of the page (pages are ordered by id)."""
    return base64.urlsafe_b64encode((_TOKEN_PREFIX + task_id).encode()).decode()


def decode_page_token(token: str) -> str:
    if not token:
        return ""
    bad = InvalidArgumentError(
        [FieldViolation("page_token", "is not a token from Snapshot.next_page_token")]
    )
    try:
        text = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad from exc
    if not text.startswith(_TOKEN_PREFIX):
        raise bad
    return text.removeprefix(_TOKEN_PREFIX)


def watch_filter_from(request: service_pb.WatchExecutionRequest, limits: Limits) -> WatchFilter:
    validate_ids(request.task_ids, "task_ids", limits)
    validate_ids(request.sidecar_ids, "sidecar_ids", limits)
    bad = [i for i, kind in enumerate(request.kinds) if kind not in _KNOWN_KINDS]
    if bad:
        raise InvalidArgumentError(
            [FieldViolation(f"kinds[{i}]", "is not a known EventKind") for i in bad]
        )
    return WatchFilter(
        task_ids=frozenset(request.task_ids) or None,
        sidecar_ids=frozenset(request.sidecar_ids) or None,
        kinds=frozenset(request.kinds) or None,
    )


class Undecodable:
    """Stands in for a request whose bytes are not the expected protobuf message.

    The deserializer cannot abort a call, so it returns this and the handler answers
    INVALID_ARGUMENT (grpc-python would otherwise report a bare INTERNAL).
    """

    def __init__(self, message_name: str) -> None:
        self.message_name = message_name

    def error(self) -> InvalidArgumentError:
        return MalformedMessageError(
            self.message_name, f"is not a valid {self.message_name} protobuf message"
        )


def lenient(message_type: Any) -> Callable[[bytes], Any]:
    """A request deserializer that returns ``Undecodable`` instead of raising."""
    name = message_type.DESCRIPTOR.full_name

    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return Undecodable(name)

    return parse


def reject_undecodable(request: Any) -> None:
    if isinstance(request, Undecodable):
        raise request.error()


async def first_request(requests: AsyncIterator[Any], message_name: str) -> Any:
    """The one request message of a unary-request call, or MalformedMessageError."""
    async for request in requests:
        return request
    raise MalformedMessageError(
        message_name,
        "no complete request message arrived: send a length-prefixed protobuf with "
        "content-type application/grpc (JSON and plain HTTP bodies are not served)",
    )
