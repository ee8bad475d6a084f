"""Result rows, the ratio against the baseline, the targets, the table and JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table


@dataclass
class Row:
    """One measured figure of one scenario, for execstream and (where it applies) the relay."""

    scenario: str
    params: dict[str, Any]
    metric: str
    unit: str
    execstream: float | None
    baseline: float | None = None
    # A target: ("ratio>=", 0.5), ("ratio<=", 2.0), ("<", 0.5) on execstream's value.
    target: tuple[str, float] | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.execstream is None or not self.baseline:
            return None
        return self.execstream / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        kind, bound = self.target
        value = self.ratio if kind.startswith("ratio") else self.execstream
        if value is None:
            return None
        if kind.endswith(">="):
            return value >= bound
        if kind.endswith("<="):
            return value <= bound
        return value < bound

    def target_text(self) -> str:
        if self.target is None:
            return ""
        kind, bound = self.target
        if kind.startswith("ratio"):
            return f"ratio {kind.removeprefix('ratio')} {bound:g}"
        return f"{kind} {bound:g} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = self.target_text() or None
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


@dataclass
class Report:
    mode: str
    store: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "mode": self.mode,
            "store": self.store,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_s": round(time.time() - self.started_at, 1),
            "machine": machine(),
            "rows": [row.to_json() for row in self.rows],
            "notes": self.notes,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def machine() -> dict[str, Any]:
    import grpc

    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "events/s":
        return f"{value:,.0f}"
    if unit == "MB":
        return f"{value:,.1f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


def table(report: Report) -> Table:
    result = Table(title=f"execstream bench ({report.mode}, store {report.store})")
    for name, justify in (
        ("scenario", "left"),
        ("params", "left"),
        ("metric", "left"),
        ("execstream", "right"),
        ("baseline", "right"),
        ("ratio", "right"),
        ("target", "left"),
        ("met", "center"),
    ):
        result.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report.rows:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[row.met]
        result.add_row(
            row.scenario,
            params_text(row.params),
            f"{row.metric} ({row.unit})",
            fmt(row.execstream, row.unit),
            fmt(row.baseline, row.unit),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            row.target_text(),
            met,
        )
    return result


def markdown(report: Report) -> str:
    """The table as Markdown, for docs/performance.md."""
    lines = [
        "| scenario | params | metric | execstream | baseline | ratio | target | met |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for row in report.rows:
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.scenario} | {params_text(row.params)} | {row.metric} ({row.unit}) | "
            f"{fmt(row.execstream, row.unit)} | {fmt(row.baseline, row.unit)} | {ratio} | "
            f"{row.target_text()} | {met} |"
        )
    return "\n".join(lines) + "\n"
