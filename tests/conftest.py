"""Fixtures: real servers on free loopback ports with real SQLite files."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from execstream.v1 import service_pb2_grpc
from execstream_server.config import Limits, ServerConfig

from .serverthread import ServerThread


def make_config(tmp_path: Path, **overrides: Any) -> ServerConfig:
    limits = overrides.pop("limits", {})
    base = ServerConfig(
        port=0,
        db=str(tmp_path / "execstream.db"),
        metrics_port=0,
        heartbeat_interval_s=overrides.pop("heartbeat_interval_s", 5.0),
        shutdown_grace_s=0.5,
        limits=dataclasses.replace(Limits(), **limits),
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def factory(**overrides: Any) -> ServerThread:
        server = ServerThread(make_config(tmp_path, **overrides)).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory()


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> service_pb2_grpc.ExecutionServiceStub:
    return service_pb2_grpc.ExecutionServiceStub(channel)
