"""The servers under test as child processes on loopback: execstream, the relay, redis-server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.support.processes import ChildProcess, ChildProcessError, free_port


class BenchError(Exception):
    """A bench run cannot go on (a server died, a check failed); the message says which."""


_LOGS = Path(tempfile.gettempdir()) / "execstream-bench"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Process(ChildProcess):
    """A server child process (the test suite's harness), failing with BenchError."""

    def __init__(self, args: list[str], port: int) -> None:
        name = Path(args[2] if args[0] == sys.executable else args[0]).name
        super().__init__(args, port, _LOGS / f"{name}-{port}.log")

    def start(self, timeout: float = 30.0) -> Process:
        try:
            super().start(timeout)
        except ChildProcessError as exc:
            raise BenchError(str(exc)) from None
        return self

    def check_alive(self) -> None:
        try:
            super().check_alive()
        except ChildProcessError as exc:
            raise BenchError(str(exc)) from None

    def stop(self) -> None:
        self.terminate()
        self.proc = None

    def cpu_seconds(self) -> float:
        """User + system CPU the server process used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def kill(self) -> None:
        super().kill()
        self.proc = None


def relay_process() -> Process:
    port = free_port()
    return Process([sys.executable, "-m", "bench.relay", "--port", str(port)], port)


class Execstream(Process):
    """``python -m execstream serve`` with bench-friendly limits; metrics on their own port."""

    def __init__(
        self,
        args: list[str],
        port: int,
        *,
        metrics_port: int,
        extra: list[str],
        store_flags: list[str],
    ) -> None:
        super().__init__(args, port)
        self.metrics_port = metrics_port
        self.extra = extra
        self.store_flags = store_flags  # where its log is: another server can reopen it

    def metric(self, name: str) -> float:
        """One unlabelled sample from the server's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise BenchError(f"the metrics endpoint has no {name}")

    def watchers(self) -> int:
        """The server's own count of open watch streams (the execstream_watchers gauge)."""
        return int(self.metric("execstream_watchers"))


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
        "--http-port",
        "0",
        *store_flags,
        *BENCH_FLAGS,
        *extra,
    ]
    return Execstream(
        args, port, metrics_port=metrics_port, extra=list(extra), store_flags=list(store_flags)
    )


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
