"""A real ``redis-server`` on a free loopback port with its own directory, for tests.

Started the way execstream's docs require for durability (AOF, fsync on every write,
no RDB snapshots), so a restart from the same directory keeps every acknowledged write.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from . import needs
from .certs import CertFiles
from .helpers import free_port, wait_for

REDIS_SERVER = shutil.which("redis-server")


def require_redis_server() -> str:
    """The redis-server binary, or skip the test saying why."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not on PATH (Debian: apt-get install redis-server)")
    return REDIS_SERVER


class RedisServer:
    """``start``/``stop``/``kill``/``restart`` keep the port and the data directory."""

    def __init__(
        self,
        directory: Path,
        *extra: str,
        password: str = "",
        tls: CertFiles | None = None,
        client_certs: bool = False,
    ) -> None:
        self.binary = require_redis_server()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.tls = tls
        self.client_certs = client_certs
        self.extra = [*extra]
        if password:
            self.extra += ["--requirepass", password]
        self.port = free_port()
        if tls is not None:
            self.extra += [
                "--tls-port", str(self.port),
                "--tls-cert-file", str(tls.server_cert),
                "--tls-key-file", str(tls.server_key),
                "--tls-ca-cert-file", str(tls.ca),
                "--tls-auth-clients", "yes" if client_certs else "no",
            ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        query = f"?ssl_ca_certs={self.tls.ca}" if self.tls else ""
        if self.tls and self.client_certs:
            query += f"&ssl_certfile={self.tls.client_cert}&ssl_keyfile={self.tls.client_key}"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0{query}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self, *, wait: bool = True) -> RedisServer:
        """Start and (unless ``wait`` is false) wait until Redis answers PING."""
        needs.check_may_start("redis-server")
        args = [
            self.binary,
            "--port",
            "0" if self.tls else str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--logfile",
            str(self.directory / "redis.log"),
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            wait_for(self._answers, timeout=20)
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n{log}")
        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:  # refused, or LOADING the AOF after a restart
            return False
        finally:
            client.close()

    def _end(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM: Redis flushes and exits."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash; only what the AOF fsynced survives."""
        self._end(signal.SIGKILL)

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()
