"""The servers under test as child processes on loopback: execstream, the relay, redis-server."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class BenchError(Exception):
    """A bench run cannot go on (a server died, a check failed); the message says which."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 30.0) -> None:
    """Wait until something accepts on the port, failing fast if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            last = stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise BenchError(f"{name} exited with {proc.returncode} at start: {last[0]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise BenchError(f"nothing listened on port {port} within {timeout:.0f}s")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


@dataclass
class Process:
    """A child process with a port; ``kill`` (SIGKILL) and ``stop`` (SIGTERM) are idempotent."""

    args: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Process:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, self.proc, " ".join(self.args[:4]))
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            last = stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise BenchError(f"server exited with {self.proc.returncode}: {last[0]}")

    def _end(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)


def relay_process() -> Process:
    port = free_port()
    return Process([sys.executable, "-m", "bench.relay", "--port", str(port)], port)


@dataclass
class Execstream(Process):
    """``python -m execstream serve`` with bench-friendly limits; metrics on their own port."""

    metrics_port: int = 0
    extra: list[str] = field(default_factory=list)

    def watchers(self) -> int:
        """The server's own count of open watch streams (the execstream_watchers gauge)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("execstream_watchers "):
                    return int(float(line.split()[1]))
        raise BenchError("the metrics endpoint has no execstream_watchers gauge")


# Rate limits and stream caps are production guards; the bench measures raw capacity.
BENCH_FLAGS = (
    "--sidecar-events-per-second",
    "0",
    "--max-watchers",
    "20000",
    "--max-streams-per-client",
    "30000",
    "--log-level",
    "warning",
)


def execstream_process(store_flags: list[str], *extra: str) -> Execstream:
    port, metrics_port = free_port(), free_port()
    args = [
        sys.executable,
        "-m",
        "execstream",
        "serve",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        *store_flags,
        *BENCH_FLAGS,
        *extra,
    ]
    return Execstream(args, port, metrics_port=metrics_port, extra=list(extra))


def redis_available() -> bool:
    if shutil.which("redis-server") is None:
        return False
    try:
        import execstream_server.store.redis  # noqa: F401
    except ImportError:
        return False
    return True


def redis_process(directory: Path) -> Process:
    """A throwaway redis-server with an fsync-per-second AOF (its usual durable setting)."""
    port = free_port()
    args = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    return Process(args, port)


class StoreSetup:
    """Where execstream keeps its log for one server start: a fresh SQLite file or Redis DB."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self._redis: Process | None = None
        self._count = 0

    def fresh(self) -> list[str]:
        """Flags for a server with an empty log."""
        self._count += 1
        if self.kind == "sqlite":
            return ["--db", str(self.directory / f"bench-{self._count}.db")]
        if self._redis is None:
            self._redis = redis_process(self.directory).start()
        db = self._count % 16
        subprocess.run(
            ["redis-cli", "-p", str(self._redis.port), "-n", str(db), "FLUSHDB"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return ["--store", f"redis://127.0.0.1:{self._redis.port}/{db}"]

    def close(self) -> None:
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
