"""The one seam between the adapters and httpx: POST, check the status, stream lines.

Every httpx exception is translated here into an ``AdapterError`` so the retry loop sees
one small exception tree, and no adapter handles transport errors itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from .errors import AdapterError, BackendHTTPError, BackendUnreachable, StreamBroken
from .request import ChatRequest

# How much of an error body goes into a message for people.
_ERROR_BODY_CHARS = 300


def make_client(request: ChatRequest) -> httpx.AsyncClient:
    """An HTTP client for one request's server; no proxies from the environment."""
    timeout = httpx.Timeout(request.timeout_s)
    return httpx.AsyncClient(timeout=timeout, trust_env=False)


@asynccontextmanager
async def post_stream(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[AsyncIterator[str]]:
    """POST ``body`` as JSON and yield the response's lines; raise AdapterError on failure."""
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _http_error(response)
            yield _lines(response, url)
    except httpx.TimeoutException as exc:
        raise BackendUnreachable(f"timed out talking to {url}", code="timeout") from exc
    except httpx.ConnectError as exc:
        raise BackendUnreachable(f"cannot reach {url}: {_reason(exc)}", code="connect") from exc
    except httpx.HTTPError as exc:
        raise StreamBroken(f"the stream from {url} broke: {_reason(exc)}", code="stream") from exc


async def _lines(response: httpx.Response, url: str) -> AsyncIterator[str]:
    try:
        async for line in response.aiter_lines():
            yield line
    except httpx.TimeoutException as exc:
        raise StreamBroken(f"the stream from {url} stalled", code="timeout") from exc
    except httpx.HTTPError as exc:
        raise StreamBroken(f"the stream from {url} broke: {_reason(exc)}", code="stream") from exc


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _http_error(response: httpx.Response) -> AdapterError:
    detail = error_detail(response.text)
    message = f"{response.request.url} answered HTTP {response.status_code}"
    return BackendHTTPError(
        f"{message}: {detail}" if detail else message,
        status=response.status_code,
        retry_after_s=_retry_after(response.headers.get("retry-after")),
    )


def error_detail(text: str) -> str:
    """The error message inside a JSON error body (Ollama's or OpenAI's shape), else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:_ERROR_BODY_CHARS]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error if error is not None else body)[:_ERROR_BODY_CHARS]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (HTTP dates are ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
