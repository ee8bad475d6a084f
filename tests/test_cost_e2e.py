"""Cost through the real server: finished events, task state, totals, and price changes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb

from .support.helpers import collect_watch, event, free_port, report, stub_for
from .support.server_thread import ServerThread

PRICES = """
version = "{version}"
reference_model = "hosted"

[models.hosted]
backend = "anthropic"
input = {input}
output = 15
cache_read = 0.30
cache_write = 3.75
effective_from = 2026-01-01
source = "test"

[backends.ollama]
effective_from = 2026-01-01
source = "local"
"""


def write_prices(tmp_path: Path, version: str, input_price: float) -> str:
    path = tmp_path / f"prices-{version}.toml"
    path.write_text(PRICES.format(version=version, input=input_price))
    return str(path)


def run_task(stub: object, task_id: str, backend: str, model: str, usage: events_pb.Usage) -> None:
    report(
        stub,  # type: ignore[arg-type]
        f"car-{task_id}",
        [
            event(task_id, 1, "started", backend=backend, model=model),
            event(task_id, 2, "token", text="hello"),
            event(task_id, 3, "finished", usage=usage),
        ],
    )


def test_finished_events_and_state_carry_exact_costs(
    tmp_path: Path, server_factory: Callable[..., ServerThread]
) -> None:
    server = server_factory(pricing=write_prices(tmp_path, "v1", 3))
    channel, stub = stub_for(server.address)
    with channel:
        hosted = events_pb.Usage(input_tokens=1000, cache_read_tokens=5000, output_tokens=200)
        run_task(stub, "h", "anthropic", "hosted", hosted)  # usage names no model: the task's
        local = events_pb.Usage(
            model="llama3.2", input_tokens=1000, output_tokens=200, estimated=True
        )
        run_task(stub, "l", "ollama", "llama3.2", local)
        unknown = events_pb.Usage(model="gpt-x", input_tokens=10)
        run_task(stub, "u", "openai", "gpt-x", unknown)

        watched = collect_watch(
            stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0), timeout=10),
            lambda seen: sum(e.HasField("finished") for e in seen) == 3,
        )
        finished = {e.task_id: e.finished.cost for e in watched if e.HasField("finished")}
        # hosted: 1000*$3 + 5000*$0.30 + 200*$15 per million = 3e6 + 1.5e6 + 3e6 nanos
        assert finished["h"].actual.total_nanos == 7_500_000
        assert finished["h"].price_entry == "hosted" and finished["h"].pricing_version == "v1"
        assert finished["l"].actual.total_nanos == 0 and finished["l"].local
        assert finished["l"].reference.total_nanos == 3_000_000 + 3_000_000
        assert finished["l"].savings_nanos == 6_000_000 and finished["l"].estimated
        assert finished["u"].unpriced

        snap = stub.GetSnapshot(service_pb.GetSnapshotRequest())
        states = {t.task_id: t for t in snap.tasks}
        assert states["h"].cost == finished["h"]
        assert states["l"].cost == finished["l"]
        totals = snap.totals
        assert totals.cost_nanos == 7_500_000
        assert totals.reference_cost_nanos == 7_500_000 + 6_000_000
        assert totals.savings_nanos == 6_000_000
        assert totals.unpriced_tasks == 1
        by_model = {(m.backend, m.model): m for m in totals.by_model}
        assert by_model[("ollama", "llama3.2")].savings_nanos == 6_000_000
        assert by_model[("anthropic", "hosted")].cost_nanos == 7_500_000


def test_a_price_change_does_not_rewrite_finished_tasks(
    tmp_path: Path, server_factory: Callable[..., ServerThread]
) -> None:
    usage = events_pb.Usage(model="hosted", input_tokens=1_000_000)
    first = server_factory(pricing=write_prices(tmp_path, "v1", 3))
    channel, stub = stub_for(first.address)
    with channel:
        run_task(stub, "old", "anthropic", "hosted", usage)
    first.stop()

    second = server_factory(pricing=write_prices(tmp_path, "v2", 1))
    channel, stub = stub_for(second.address)
    with channel:
        run_task(stub, "new", "anthropic", "hosted", usage)
        states = {t.task_id: t for t in stub.GetSnapshot(service_pb.GetSnapshotRequest()).tasks}
    assert states["old"].cost.actual.total_nanos == 3_000_000_000
    assert states["old"].cost.pricing_version == "v1"
    assert states["new"].cost.actual.total_nanos == 1_000_000_000
    assert states["new"].cost.pricing_version == "v2"


def test_an_invalid_price_table_stops_the_server_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(PRICES.format(version="v1", input=-3))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "execstream",
            "serve",
            "--port",
            str(free_port()),
            "--db",
            str(tmp_path / "db"),
            "--metrics-port",
            "0",
            "--http-port",
            "0",
            "--pricing",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(bad) in lines[0] and 'models."hosted".input' in lines[0]
    assert "negative price" in lines[0] and "Traceback" not in proc.stderr


def test_the_pricing_command_validates_a_table(tmp_path: Path) -> None:
    """`execstream pricing --pricing FILE` validates a table without starting anything."""
    bad = tmp_path / "bad.toml"
    bad.write_text(PRICES.format(version="v1", input=3).replace("input = 3", "inptu = 3"))
    proc = subprocess.run(
        [sys.executable, "-m", "execstream", "pricing", "--pricing", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "inptu" in proc.stderr and "unknown key" in proc.stderr
