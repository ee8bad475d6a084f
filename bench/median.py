"""``python -m bench.median A.json B.json C.json``: the median of several runs, as Markdown.

Each figure (execstream, baseline, and the ratio of the same run) is the median over the
runs that measured it; ratios are taken within each run first, so a slow run of both
servers does not skew them. The load averages each run noted are listed below the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from .results import fmt, params_text

Key = tuple[str, str, str, str]
# Parameters that report what a run achieved rather than what it asked for.
MEASURED_PARAMS = frozenset({"held", "relay_held"})


def _key(row: dict[str, Any]) -> Key:
    asked = {k: v for k, v in row["params"].items() if k not in MEASURED_PARAMS}
    return row["scenario"], params_text(asked), row["metric"], row["unit"]


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def merge(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure, in first-seen order, with medians and each run's ratio."""
    rows: dict[Key, dict[str, Any]] = {}
    for run in runs:
        for row in run["rows"]:
            merged = rows.setdefault(
                _key(row),
                {"row": row, "execstream": [], "baseline": [], "ratio": [], "met": []},
            )
            merged["execstream"].append(row["execstream"])
            merged["baseline"].append(row["baseline"])
            merged["ratio"].append(row["ratio"])
            merged["met"].append(row["met"])
    out = []
    for (scenario, params, metric, unit), merged in rows.items():
        ratios = [r for r in merged["ratio"] if r is not None]
        out.append(
            {
                "scenario": scenario,
                "params": params,
                "metric": metric,
                "unit": unit,
                "execstream": _median(merged["execstream"]),
                "baseline": _median(merged["baseline"]),
                "ratio": _median(merged["ratio"]),
                "ratios": ratios,
                "target": merged["row"].get("target") or "",
                "met": [m for m in merged["met"] if m is not None],
            }
        )
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | params | metric | execstream | baseline | ratio (runs) | target | met |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for row in merge(runs):
        ratio = "-"
        if row["ratio"] is not None:
            each = " / ".join(f"{r:.2f}" for r in row["ratios"])
            ratio = f"{row['ratio']:.2f} ({each})"
        met = ""
        if row["met"]:
            met = "yes" if all(row["met"]) else ("**no**" if not any(row["met"]) else "mixed")
        lines.append(
            f"| {row['scenario']} | {row['params']} | {row['metric']} ({row['unit']}) | "
            f"{fmt(row['execstream'], row['unit'])} | {fmt(row['baseline'], row['unit'])} | "
            f"{ratio} | {row['target']} | {met} |"
        )
    lines.append("")
    for index, run in enumerate(runs, 1):
        loads = "; ".join(n for n in run.get("notes", []) if "load average" in n)
        lines.append(f"Run {index} ({run.get('started_at', '?')}): {loads}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.median", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="JSON files from python -m bench --json")
    args = parser.parse_args(argv)
    try:
        runs = [json.loads(path.read_text()) for path in args.runs]
    except (OSError, ValueError) as exc:
        print(f"bench.median: cannot read the runs: {exc}", file=sys.stderr)
        return 2
    print(markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
