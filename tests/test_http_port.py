"""The HTTP port answers only the Host names it knows (DNS rebinding) and the one allowed
origin, whatever case the browser writes it in.
"""

from __future__ import annotations

import httpx
import pytest
from execstream.v1 import service_pb2 as service_pb

from .support.grpcweb_client import GrpcWebClient
from .support.helpers import free_port
from .support.server_thread import ServerFactory, ServerThread

pytestmark = pytest.mark.server
OK, PERMISSION_DENIED = 0, 7


def base(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.app.http_port}"


@pytest.fixture
def web_server(server_factory: ServerFactory) -> ServerThread:
    return server_factory(http_port=free_port(), http_allow_hosts=("dash.example.com",))


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "rebind.test:80"])
def test_a_foreign_host_is_refused_before_anything_else(
    web_server: ServerThread, host: str
) -> None:
    """DNS rebinding: another site's name that resolves to 127.0.0.1 gets nothing."""
    headers = {"Host": host.format(port=web_server.app.http_port)}
    page = httpx.get(base(web_server) + "/", headers=headers)
    assert page.status_code == 421 and "--http-allow-host" in page.text
    assert "execstream" not in page.headers.get("content-security-policy", "")
    web = GrpcWebClient(base(web_server))
    reply = web.call("GetSnapshot", service_pb.GetSnapshotRequest(), headers=headers)
    assert reply.http_status == 421 and reply.messages == []
    assert reply.code == PERMISSION_DENIED and "--http-allow-host" in reply.message
    preflight = httpx.options(base(web_server) + "/x", headers=headers)
    assert preflight.status_code == 421


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "localhost:9", "dash.example.com"]
)
def test_loopback_names_and_allowed_hosts_are_served(web_server: ServerThread, host: str) -> None:
    headers = {"Host": host.format(port=web_server.app.http_port)}
    assert httpx.get(base(web_server) + "/", headers=headers).status_code == 200
    reply = GrpcWebClient(base(web_server)).call(
        "GetSnapshot", service_pb.GetSnapshotRequest(), headers=headers
    )
    assert reply.code == OK


def test_the_allowed_origin_matches_whatever_its_case(server_factory: ServerFactory) -> None:
    server = server_factory(http_port=free_port(), http_allow_origin="https://dash.example.com")
    origin = "https://Dash.Example.COM"
    url = f"{base(server)}/execstream.v1.ExecutionService/GetSnapshot"
    preflight = httpx.options(
        url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    reply = GrpcWebClient(base(server)).call(
        "GetSnapshot", service_pb.GetSnapshotRequest(), headers={"Origin": origin}
    )
    assert reply.headers["access-control-allow-origin"] == origin
