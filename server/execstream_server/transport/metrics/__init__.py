"""Prometheus collectors: the only package that imports prometheus_client.

``server`` holds the service's collectors (tasks, cost, tokens, ingest), ``grpc`` the
go-grpc-prometheus ones, ``labels`` the bounds on label values, ``http`` the endpoint.
"""

from execstream_server.transport.metrics.grpc import GrpcMetrics
from execstream_server.transport.metrics.http import MetricsHttpServer
from execstream_server.transport.metrics.labels import OTHER, UNKNOWN_BACKEND, LabelCap
from execstream_server.transport.metrics.server import NANOS_PER_USD, ServerMetrics

__all__ = [
    "NANOS_PER_USD",
    "OTHER",
    "UNKNOWN_BACKEND",
    "GrpcMetrics",
    "LabelCap",
    "MetricsHttpServer",
    "ServerMetrics",
]
