"""Errors an adapter raises, split into the ones worth retrying and the ones that are not.

    AdapterError                 base; carries a short ``code`` and ``usage`` billed so far
    ├── BackendUnreachable       could not connect / timed out        (retryable)
    ├── BackendHTTPError         the server answered an error status  (retryable: 408/409/429/5xx)
    ├── StreamBroken             the stream stopped before ``done``   (retryable)
    ├── BackendReportedError     an error object inside the stream    (as the provider says)
    └── BackendProtocolError     the server does not speak the format (not retryable)

httpx errors are translated at one seam (``http.py``) with ``raise ... from exc``.
"""

from __future__ import annotations

from .usage import TokenUsage

RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class AdapterError(Exception):
    """A model call failed. ``usage`` is what the failed attempt billed, if anything."""

    retryable = False

    def __init__(self, message: str, *, code: str, usage: TokenUsage | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.usage = usage
        # Seconds the server asked us to wait before retrying (Retry-After), if it said.
        self.retry_after_s: float | None = None


class BackendUnreachable(AdapterError):
    retryable = True


class BackendHTTPError(AdapterError):
    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message, code=f"http_{status}")
        self.status = status
        self.retry_after_s = retry_after_s
        self.retryable = status in RETRYABLE_HTTP_STATUSES


class StreamBroken(AdapterError):
    retryable = True


class BackendReportedError(AdapterError):
    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class BackendProtocolError(AdapterError):
    """The server answered something that is not the expected wire format."""
