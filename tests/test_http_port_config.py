"""The HTTP port's configuration as pure functions: exposure and origins."""

from __future__ import annotations

import pytest
from execstream_server.app import check_exposure
from execstream_server.config import ConfigError, ServerConfig, parse_origin


def test_the_http_port_follows_the_grpc_ports_exposure_rules() -> None:
    with pytest.raises(ConfigError, match=r"--http-host 0\.0\.0\.0: refusing"):
        check_exposure(ServerConfig(http_host="0.0.0.0"))
    check_exposure(ServerConfig(http_host="0.0.0.0", http_port=0))  # off: nothing exposed
    check_exposure(ServerConfig(http_host="0.0.0.0", auth_file="t.json", tls_cert="c.pem"))
    check_exposure(ServerConfig(http_host="0.0.0.0", insecure=True))


@pytest.mark.parametrize("origin", ["https://dash.example.com", "http://127.0.0.1:3000", ""])
def test_an_allowed_origin_is_one_origin(origin: str) -> None:
    assert parse_origin(origin + "/") == origin if origin else parse_origin("") == ""


@pytest.mark.parametrize(
    "origin", ["*", "https://a.com/path", "dash.example.com", "https://a.com, https://b.com"]
)
def test_anything_else_is_not_an_origin(origin: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        parse_origin(origin)
