"""The bench's own logic that a smoke run cannot check: its wire encoding and its percentiles.

The smoke run itself (``python -m bench --smoke``) is a step of scripts/test.
"""

from __future__ import annotations

from collections import Counter

from execstream.v1 import service_pb2 as service_pb

from bench import median as bench_median
from bench.median import merge
from bench.results import Report, Row
from bench.throughput import percentile
from bench.wire import EventSource


def test_hand_encoded_reports_parse_as_progress_reports_with_per_task_seq() -> None:
    source = EventSource("sc-1", task_count=2)
    first = service_pb.ProgressReport.FromString(source.report(3, stamp=True))
    second = service_pb.ProgressReport.FromString(source.report(2))
    assert first.sidecar_id == "sc-1"
    assert [(e.task_id, e.seq, e.WhichOneof("body")) for e in [*first.events, *second.events]] == [
        ("sc-1-t0", 1, "started"),
        ("sc-1-t1", 1, "started"),
        ("sc-1-t0", 2, "stdout"),
        ("sc-1-t1", 2, "stdout"),
        ("sc-1-t0", 3, "stdout"),
    ]
    assert all(e.HasField("time") for e in first.events)
    assert not any(e.HasField("time") for e in second.events)


def test_percentile_reads_the_histogram_by_rank() -> None:
    histogram = Counter({100: 98, 2000: 1, 9000: 1})
    assert percentile(histogram, 0.5) == 100
    assert percentile(histogram, 0.99) == 2000
    assert percentile(histogram, 0.999) == 9000


def test_ratio_and_target_verdicts_in_the_json() -> None:
    report = Report(mode="smoke", store="sqlite")
    report.rows.append(
        Row("fanout", {"K": 10}, "delivered", "events/s", 60.0, 100.0, ("ratio>=", 0.5))
    )
    report.rows.append(Row("latency", {"K": 10}, "p99", "ms", 3.0, 1.0, ("ratio<=", 2.0)))
    rows = report.to_json()["rows"]
    assert [(r["ratio"], r["met"], r["target"]) for r in rows] == [
        (0.6, True, "ratio >= 0.5"),
        (3.0, False, "ratio <= 2"),
    ]


def test_medians_take_each_runs_ratio_and_list_the_loads() -> None:
    def run(value: float, base: float, load: str) -> dict[str, object]:
        report = Report(mode="full", store="sqlite")
        report.rows.append(
            Row("ingest", {"S": 4}, "durable ingest", "events/s", value, base, ("ratio>=", 0.25))
        )
        report.notes.append(f"ingest: 1-minute load average {load}")
        return report.to_json()

    runs = [run(100, 1000, "1.0"), run(300, 1000, "2.0"), run(50, 100, "3.0")]
    (row,) = merge(runs)
    assert (row["execstream"], row["baseline"]) == (100, 1000)
    assert row["ratio"] == 0.3 and row["ratios"] == [0.1, 0.3, 0.5]
    assert row["met"] == [False, True, True]
    text = bench_median.markdown(runs)
    assert "| 0.30 (0.10 / 0.30 / 0.50) | ratio >= 0.25 | mixed |" in text
    assert "load average 3.0" in text


def test_runs_that_held_different_counts_still_merge_into_one_row() -> None:
    def run(held: int) -> dict[str, object]:
        report = Report(mode="full", store="sqlite")
        report.rows.append(Row("idle", {"watchers": 10, "held": held}, "RSS", "MB", 1.0 * held))
        return report.to_json()

    (row,) = merge([run(9), run(10), run(8)])
    assert row["execstream"] == 9.0 and row["params"] == "watchers=10"
