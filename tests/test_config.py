"""Configuration from flags and EXECSTREAM_* variables, failing fast with one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest
from execstream_server.config import (
    ConfigError,
    Retention,
    ServerConfig,
    add_arguments,
    build_config,
)


def config_from_argv(argv: Sequence[str], env: Mapping[str, str]) -> ServerConfig:
    """Parse ``serve`` flags as the command does."""
    parser = argparse.ArgumentParser(prog="execstream serve")
    add_arguments(parser)
    return build_config(parser.parse_args(list(argv)), env)


def test_defaults_bind_loopback_with_an_sqlite_file() -> None:
    config = config_from_argv([], env={})
    assert (config.host, config.port, config.db) == ("127.0.0.1", 50051, "execstream.db")


def test_flags_override_environment_which_overrides_defaults() -> None:
    env = {"EXECSTREAM_PORT": "6000", "EXECSTREAM_MAX_TEXT_BYTES": "10", "EXECSTREAM_DB": "env.db"}
    config = config_from_argv(["--port", "7000"], env=env)
    assert (config.port, config.limits.max_text_bytes, config.db) == (7000, 10, "env.db")


def test_retention_takes_a_count_or_an_age() -> None:
    assert config_from_argv(["--retain-events", "1000"], env={}).retention == Retention(
        max_events=1000
    )
    assert config_from_argv(["--retain-events", "24h"], env={}).retention == Retention(
        max_age_s=86400
    )
    assert config_from_argv(["--heartbeat-interval", "250ms"], env={}).heartbeat_interval_s == 0.25


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--port", "x"], {}, "--port"),
        (["--heartbeat-interval", "soon"], {}, "--heartbeat-interval"),
        ([], {"EXECSTREAM_MAX_EVENTS_PER_REPORT": "0"}, "EXECSTREAM_MAX_EVENTS_PER_REPORT"),
    ],
)
def test_bad_values_name_the_flag(argv: list[str], env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        config_from_argv(argv, env=env)


def test_serve_prints_one_line_and_exits_2_on_bad_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "execstream", "serve", "--port", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--port" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
