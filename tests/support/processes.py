"""Child processes that listen on loopback ports: ``execstream serve`` and anything else.

The one way tests (and the benchmark) start a server process. Output goes to a log file in
the process's directory, never to a pipe nobody reads (a chatty server would block on it),
and ``start`` fails at once, with the log's last line, if the process exits before it
listens.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from . import needs


class ChildProcessError(AssertionError):
    """A child process did not start or died; the message carries its last log line."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChildProcess:
    """A process with a port; ``stop`` (SIGTERM) and ``kill`` (SIGKILL) are idempotent."""

    def __init__(self, args: list[str], port: int, log_path: Path) -> None:
        self.args = args
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> ChildProcess:
        needs.check_may_start(" ".join(self.args[:4]))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        self.wait_listening(timeout)
        return self

    def wait_listening(self, timeout: float) -> None:
        """Wait until something accepts on the port, failing fast if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise ChildProcessError(f"nothing listened on port {self.port} within {timeout:.0f}s")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ChildProcessError(
                f"{' '.join(self.args[:4])} exited with {self.proc.returncode}: {self.last_line()}"
            )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def last_line(self) -> str:
        lines = self.log_text().strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def _end(self, sig: signal.Signals, timeout: float) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful stop. Returns the exit code."""
        code = self._end(signal.SIGTERM, timeout)
        assert code is not None, "never started"
        return code

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as a crashed pod would."""
        self._end(signal.SIGKILL, 20)

    def rss_bytes(self) -> int:
        """Resident set size, from /proc (Linux)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise ChildProcessError(f"no VmRSS for pid {self.pid}")


class ServerProcess(ChildProcess):
    """``execstream serve`` as a child process; ``start``/``kill`` keep its ports and store.

    ``ServerProcess(tmp / "x.db")`` runs the embedded store on that file;
    ``ServerProcess.on_store(directory, "redis://...")`` runs a replica on a shared store.
    Metrics are served on their own free port when ``metrics`` is set, and the dashboard
    (gRPC-Web) on its own when ``http`` is set.
    """

    def __init__(
        self,
        db: Path | None,
        *extra: str,
        directory: Path | None = None,
        store_url: str = "",
        metrics: bool = False,
        http: bool = False,
        port: int = 0,
    ) -> None:
        if directory is None:
            assert db is not None, "give a db file or a directory"
            directory = db.parent
        self.db = db
        self.directory = directory
        self.store_url = store_url
        self.extra = extra
        self.metrics_port = free_port() if metrics else 0
        # The dashboard's HTTP port: off unless asked for (its default, 8080, is shared).
        self.http_port = free_port() if http else 0
        port = port or free_port()  # a port given: the one a restarted server keeps
        store = ["--store", store_url] if store_url else ["--db", str(db)]
        args = [
            sys.executable,
            "-m",
            "execstream",
            "serve",
            "--port",
            str(port),
            *store,
            "--metrics-port",
            str(self.metrics_port),
            "--http-port",
            str(self.http_port),
            *extra,
        ]
        super().__init__(args, port, directory / f"server-{port}.log")

    @classmethod
    def on_store(cls, directory: Path, store_url: str, *extra: str) -> ServerProcess:
        """A replica on a shared store, checkpointing often, with metrics."""
        directory.mkdir(parents=True, exist_ok=True)
        return cls(
            None,
            "--checkpoint-interval",
            "200ms",
            *extra,
            directory=directory,
            store_url=store_url,
            metrics=True,
        )

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start and wait until the gRPC port accepts connections."""
        super().start(timeout)
        return self

    def metric(self, name: str) -> float:
        """Sum of every sample of ``name`` on this server's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total
