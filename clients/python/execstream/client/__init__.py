"""The Python client: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

``watch`` resumes across reconnects with no gap or duplicate, ``snapshot`` reads every page,
and ``reporter`` batches a sidecar's events and commits each exactly once, across restarts.
"""

from execstream.v1 import events_pb2 as pb

from .backoff import Backoff
from .client import AsyncClient, Client
from .errors import (
    ExecstreamError,
    FieldViolation,
    ReportRefused,
    ResyncRequired,
    ServerRefused,
    StatusDetails,
    Unreachable,
)
from .options import DEFAULT_TARGET, ConnectOptions
from .reporter import AsyncReporter
from .sync_reporter import Reporter
from .task import TaskReporter
from .watch import AsyncWatch, Watch

__all__ = [
    "DEFAULT_TARGET",
    "AsyncClient",
    "AsyncReporter",
    "AsyncWatch",
    "Backoff",
    "Client",
    "ConnectOptions",
    "ExecstreamError",
    "FieldViolation",
    "ReportRefused",
    "Reporter",
    "ResyncRequired",
    "ServerRefused",
    "StatusDetails",
    "TaskReporter",
    "Unreachable",
    "Watch",
    "pb",
]
