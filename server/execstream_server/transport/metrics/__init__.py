"""Prometheus collectors: the only package that imports prometheus_client.

``server`` holds the service's collectors (tasks, ingest, streaming times) and wires the
others: ``cost`` (cost and token counters by backend, model and task label keys),
``running`` (running tasks' cost), ``budgets``, ``grpc`` (go-grpc-prometheus's), ``labels``
(the bounds on label values) and ``http`` (the endpoint).
"""

from execstream_server.transport.metrics.cost import NANOS_PER_USD
from execstream_server.transport.metrics.grpc import GrpcMetrics
from execstream_server.transport.metrics.http import MetricsHttpServer
from execstream_server.transport.metrics.labels import (
    OTHER,
    UNKNOWN_BACKEND,
    LabelCap,
    LabelSetCap,
    SeriesCap,
)
from execstream_server.transport.metrics.server import ServerMetrics

__all__ = [
    "NANOS_PER_USD",
    "OTHER",
    "UNKNOWN_BACKEND",
    "GrpcMetrics",
    "LabelCap",
    "LabelSetCap",
    "MetricsHttpServer",
    "SeriesCap",
    "ServerMetrics",
]
