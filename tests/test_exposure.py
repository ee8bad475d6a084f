"""Safe by default: no listening beyond loopback without auth and TLS unless --insecure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from execstream_server.app import check_exposure
from execstream_server.config import ConfigError, ServerConfig


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2", "127.255.255.254"]
)
def test_loopback_needs_nothing(host: str) -> None:
    check_exposure(ServerConfig(host=host))


@pytest.mark.parametrize("host", ["128.0.0.1", "10.0.0.1", "::", "example.org", "::2"])
def test_addresses_outside_127_8_and_ipv6_loopback_are_not_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match="beyond loopback"):
        check_exposure(ServerConfig(host=host))


def test_metrics_beyond_loopback_need_insecure() -> None:
    with pytest.raises(ConfigError, match=r"--metrics-host 0\.0\.0\.0: refusing"):
        check_exposure(ServerConfig(metrics_host="0.0.0.0"))
    with pytest.raises(ConfigError, match="--metrics-host"):
        check_exposure(
            ServerConfig(host="0.0.0.0", auth_file="t", tls_cert="c", metrics_host="0.0.0.0")
        )
    check_exposure(ServerConfig(metrics_host="0.0.0.0", insecure=True))
    check_exposure(ServerConfig(metrics_host="127.0.0.9"))
    check_exposure(ServerConfig(metrics_host="0.0.0.0", metrics_port=0))  # metrics off


def test_other_addresses_need_auth_and_tls_or_insecure() -> None:
    with pytest.raises(ConfigError, match="--auth-file and --tls-cert"):
        check_exposure(ServerConfig(host="0.0.0.0"))
    with pytest.raises(ConfigError, match="without --tls-cert"):
        check_exposure(ServerConfig(host="0.0.0.0", auth_file="tokens.json"))
    check_exposure(ServerConfig(host="0.0.0.0", auth_file="t.json", tls_cert="c.pem"))
    check_exposure(ServerConfig(host="0.0.0.0", insecure=True))


def test_serve_refuses_with_one_line_saying_why(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "execstream",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--db",
            str(tmp_path / "x.db"),
            "--metrics-port",
            "0",
            "--http-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen beyond loopback" in result.stderr
    assert "--insecure" in result.stderr and "Traceback" not in result.stderr
