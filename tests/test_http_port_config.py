"""The HTTP port's configuration as pure functions: exposure, origins, the Host names it answers."""

from __future__ import annotations

import pytest
from execstream_server.app import check_exposure
from execstream_server.config import ConfigError, ServerConfig, parse_hosts, parse_origin
from execstream_server.transport.http_hosts import HostPolicy, split_host


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


def test_allowed_hosts_are_a_comma_separated_list_of_names_with_optional_ports() -> None:
    assert parse_hosts(" Dash.Example.com., ops.example.com:8443 ,10.0.0.5,[::1]:9") == (
        "dash.example.com",
        "ops.example.com:8443",
        "10.0.0.5",
        "[::1]:9",
    )
    assert parse_hosts("") == ()


@pytest.mark.parametrize("entry", ["*.example.com", "https://a.com", "a b", "a:b", "a:70000"])
def test_anything_else_is_not_an_allowed_host(entry: str) -> None:
    with pytest.raises(ValueError, match=entry.split(":")[0].replace("*", r"\*")):
        parse_hosts(entry)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("Example.COM.", ("example.com", None)),
        ("a:80", ("a", 80)),
        ("[::1]:8080", ("[::1]", 8080)),
        ("::1", ("[::1]", None)),
        ("[::1]x", None),
        ("a:", None),
        ("a:0", None),
        (":80", None),
        ("", None),
    ],
)
def test_host_headers_are_split_into_name_and_port(
    value: str, parsed: tuple[str, int | None] | None
) -> None:
    assert split_host(value) == parsed


POLICY = HostPolicy("box.lan", ("dash.example.com", "ops.example.com:8443"))


@pytest.mark.parametrize(
    "host",
    [
        "localhost:8080",
        "LOCALHOST:1234",  # any port: an SSH tunnel forwards from another one
        "app.localhost:3000",
        "127.0.0.1:8080",
        "127.1.2.3",
        "[::1]:9999",
        "box.lan:8080",
        "dash.example.com",
        "dash.example.com:443",
        "ops.example.com:8443",
    ],
)
def test_loopback_the_listen_host_and_allowed_names_are_answered(host: str) -> None:
    assert POLICY.allows(host, port=8080, secure=False)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8080",  # a rebinding attacker's name resolving to 127.0.0.1
        "box.lan:8081",  # the listen host on another port: not this server
        "box.lan",  # port 80 implied
        "ops.example.com",
        "ops.example.com:443",
        "localhost.evil.example",
        "10.0.0.5:8080",
        "",
        "::",
    ],
)
def test_other_hosts_are_refused(host: str) -> None:
    assert not POLICY.allows(host, port=8080, secure=False)


def test_a_host_without_a_port_means_the_schemes_port() -> None:
    assert HostPolicy("box.lan").allows("box.lan", port=443, secure=True)
    assert not HostPolicy("box.lan").allows("box.lan", port=443, secure=False)
