"""Bad usage and bad configuration: one line naming what to fix, exit 2, nothing started.

argparse's own errors, values the commands check themselves (timeouts, ports, the target),
all through the real entry point, in this process: none of them gets as far as a server.
"""

from __future__ import annotations

import argparse

import pytest
from execstream.cli.main import main
from execstream_server.config import MAX_PORT, ConfigError, add_arguments, build_config


def execstream(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``execstream ARGS`` run here; argparse's exit too."""
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("run", "--wait", "soon", "--", "true"),
            "execstream run: argument --wait: 'soon' is not a number of seconds "
            "(see execstream run --help)",
        ),
        (
            ("health", "--timeout", "0"),
            "execstream health: argument --timeout: 0 is not more than 0 seconds "
            "(see execstream health --help)",
        ),
        (
            ("health", "--timeout", "-1"),
            "execstream health: argument --timeout: -1 is not more than 0 seconds "
            "(see execstream health --help)",
        ),
        (
            ("token", "list"),
            "execstream token list: the following arguments are required: --auth-file "
            "(see execstream token list --help)",
        ),
        (("serve", "--port", "abc"), "--port: 'abc' is not a whole number"),
        (("serve", "--port", "65536"), "--port: 65536 is above the maximum 65535"),
        (("serve", "--port", "-1"), "--port: -1 is below the minimum 0"),
        (("serve", "--metrics-port", "70001"), "--metrics-port: 70001 is above the maximum 65535"),
        (("serve", "--http-port", "65536"), "--http-port: 65536 is above the maximum 65535"),
        (
            ("snapshot", "--cert", "client.pem"),
            "--cert needs --key: give the certificate and its key",
        ),
        (("watch", "--key", "client.key"), "--key needs --cert: give the certificate and its key"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], line: str
) -> None:
    assert execstream(capsys, *args) == (2, "", f"error: {line}\n")


def test_an_empty_target_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECSTREAM_TARGET", "")
    assert execstream(capsys, "snapshot") == (
        2,
        "",
        "error: EXECSTREAM_TARGET is empty: give the server's HOST:PORT (default "
        "127.0.0.1:50051)\n",
    )
    monkeypatch.delenv("EXECSTREAM_TARGET")
    assert execstream(capsys, "snapshot", "--target", " ")[0] == 2


@pytest.mark.parametrize("flag", ["--port", "--metrics-port", "--http-port"])
def test_ports_go_up_to_65535(flag: str) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = build_config(parser.parse_args([flag, str(MAX_PORT)]), env={})
    assert MAX_PORT == 65535 and getattr(config, flag[2:].replace("-", "_")) == 65535
    with pytest.raises(ConfigError, match=f"^{flag}: 65536 is above the maximum 65535$"):
        build_config(parser.parse_args([flag, "65536"]), env={})
    env = {"EXECSTREAM_" + flag[2:].replace("-", "_").upper(): "65536"}
    with pytest.raises(ConfigError, match=r"is above the maximum 65535$"):
        build_config(parser.parse_args([]), env=env)
