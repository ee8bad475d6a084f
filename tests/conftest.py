"""Fixtures: real servers on free loopback ports with real SQLite files; markers by need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from execstream.v1 import service_pb2_grpc

from .support import needs
from .support.browser import Browser, browser_missing
from .support.server_thread import ServerFactory, ServerThread, make_config

# Fixtures that start an execstream server: a test using one needs ``server``.
_SERVER_FIXTURES = frozenset({"server", "server_factory", "channel", "stub"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _SERVER_FIXTURES and not item.get_closest_marker("server"):
            item.add_marker(pytest.mark.server)
        if "redis_server" in fixtures and not item.get_closest_marker("redis"):
            item.add_marker(pytest.mark.redis)
        if "browser" in fixtures and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)
        if not any(item.get_closest_marker(need) for need in needs.NEEDS):
            item.add_marker(pytest.mark.unit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Guard from the start of the test's setup: a module-scoped fixture that starts a
    server for a unit test is set up here too, before any function-scoped fixture."""
    needs.enter_test(item.nodeid, unit=item.get_closest_marker("unit") is not None)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        needs.leave_test()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    started: list[ServerThread] = []

    def factory(**overrides: Any) -> ServerThread:
        server = ServerThread(make_config(tmp_path, **overrides)).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> ServerThread:
    return server_factory()


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> service_pb2_grpc.ExecutionServiceStub:
    return service_pb2_grpc.ExecutionServiceStub(channel)


# Screenshots and browser logs of the browser tests: CI artefacts, never committed.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A directory for this test's artefacts (screenshots), kept after the run."""
    name: str = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    directory = ARTIFACTS / name
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def browser(artifacts: Path) -> Iterator[Browser]:
    """A headless Debian chromium with a fresh profile, driven through playwright-core."""
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser tests need chromium and playwright-core: {missing}")
    chromium = Browser(artifacts / "browser.log").start()
    yield chromium
    chromium.close()
