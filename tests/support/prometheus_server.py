"""A real Prometheus server (Debian's ``prometheus``) on a free loopback port, for tests.

It scrapes one target every second into a temporary TSDB, so a test can run a workload,
wait for a scrape that saw it, and query exactly what a Grafana panel would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from . import needs
from .helpers import free_port, wait_for

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: {rule_files}
scrape_configs:
  - job_name: execstream
    static_configs:
      - targets: ["{target}"]
"""


def require_tool(name: str) -> str:
    """A binary of Debian's prometheus package; skip when absent, but fail in CI, which has it."""
    binary = shutil.which(name) or (
        f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
    )
    if binary is not None:
        return binary
    reason = f"{name} is not installed (Debian: apt-get install prometheus; scripts/dev-setup)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}, and CI must run this test")
    pytest.skip(reason)


def require_prometheus() -> str:
    return require_tool("prometheus")


class PrometheusServer:
    """``start`` then ``stop``; ``query`` runs PromQL through the HTTP API."""

    def __init__(self, directory: Path, target: str, *, rule_files: tuple[Path, ...] = ()) -> None:
        self.binary = require_prometheus()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.target = target
        self.rule_files = rule_files  # alerting rules, evaluated every second
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        needs.check_may_start("prometheus")
        config = self.directory / "prometheus.yml"
        rules = json.dumps([str(path) for path in self.rule_files])
        config.write_text(CONFIG.format(target=self.target, rule_files=rules))
        args = [
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with open(self.directory / "prometheus.log", "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout=30, interval=0.1)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.directory / "prometheus.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def api(self, path: str, **params: str | list[str]) -> Any:
        """GET /api/v1/<path>; returns ``data`` of a successful answer, fails otherwise."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as exc:  # 400/422 carry Prometheus's own error text
            body = json.load(exc)
        assert body["status"] == "success", f"{path} {params}: {body.get('error', body)}"
        return body["data"]

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector (a scalar answer comes back as one unlabelled sample).

        ``at`` is the evaluation time (Unix seconds); now when None.
        """
        params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def wait_for_scrape(self, *, after: float, timeout: float = 20) -> None:
        """Wait until Prometheus has scraped the target at a time later than ``after``."""
        wait_for(
            lambda: (self.value('max(timestamp(up{job="execstream"}))') or 0) > after,
            timeout=timeout,
            interval=0.05,
        )

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """The labels of each firing alert named ``alertname``."""
        alerts = self.api("alerts")["alerts"]
        return [
            dict(alert["labels"])
            for alert in alerts
            if alert["labels"].get("alertname") == alertname and alert["state"] == "firing"
        ]

    def value(self, promql: str, *, at: float | None = None) -> float | None:
        """The single value of an instant query, or None when it returned nothing."""
        result = self.query(promql, at=at)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None
