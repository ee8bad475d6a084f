"""The /metrics endpoint of a real server: tokens, outcomes, ingest, gRPC metrics, restarts."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from prometheus_client.parser import text_string_to_metric_families

from .support.helpers import Stub, event, free_port, report, stub_for, wait_for
from .support.server_thread import ServerThread

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: ServerThread) -> Samples:
    url = f"http://127.0.0.1:{server.app.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


USAGE = events_pb.Usage(
    model="llama3.2:3b",
    input_tokens=100,
    cache_read_tokens=40,
    cache_write_tokens=10,
    output_tokens=30,
    reasoning_tokens=12,
)


def run_task(stub: Stub, task_id: str, outcome: int = events_pb.OUTCOME_SUCCEEDED) -> None:
    report(
        stub,
        "sc",
        [
            event(task_id, 1, "started", backend="ollama", model="llama3.2:3b"),
            event(task_id, 2, "token", text="hi"),
            event(task_id, 3, "finished", outcome=outcome, usage=USAGE),
        ],
    )


@pytest.fixture
def metered(server_factory: Callable[..., ServerThread]) -> ServerThread:
    return server_factory(metrics_port=free_port())


def test_tokens_and_outcomes_are_counted_by_backend_model_and_type(metered: ServerThread) -> None:
    _, stub = stub_for(metered.address)
    run_task(stub, "a")
    run_task(stub, "b", events_pb.OUTCOME_FAILED)
    samples = scrape(metered)
    labels = {"backend": "ollama", "model": "llama3.2:3b"}
    for kind, count in (("input", 200), ("cache_read", 80), ("cache_write", 20), ("output", 60)):
        assert value(samples, "execstream_tokens_total", type=kind, **labels) == count
    assert value(samples, "execstream_reasoning_tokens_total", **labels) == 24
    assert value(samples, "execstream_tasks_finished_total", outcome="SUCCEEDED", **labels) == 1
    assert value(samples, "execstream_tasks_finished_total", outcome="FAILED", **labels) == 1
    assert value(samples, "execstream_events_ingested_total", kind="TOKEN") == 2
    assert (
        value(samples, "gen_ai_client_token_usage_count", gen_ai_token_type="output", **labels) == 2
    )
    assert value(samples, "gen_ai_server_time_to_first_token_seconds_count", **labels) == 2


def test_rejections_duplicates_and_grpc_codes_are_counted(metered: ServerThread) -> None:
    _, stub = stub_for(metered.address)
    run_task(stub, "a")
    run_task(stub, "a")
    with pytest.raises(grpc.RpcError):
        report(stub, "sc", [event("b", 5)])
    with pytest.raises(grpc.RpcError):
        report(stub, "sc", [event("bad id", 1)])
    rpc = {
        "grpc_type": "client_stream",
        "grpc_service": "execstream.v1.ExecutionService",
        "grpc_method": "ReportProgress",
    }

    def settled() -> Samples | None:
        """The client sees a status before the server's interceptor has counted it."""
        samples = scrape(metered)
        return samples if value(samples, "grpc_server_handling_seconds_count", **rpc) == 4 else None

    samples = wait_for(settled)
    assert value(samples, "execstream_events_duplicate_total") == 3
    assert value(samples, "execstream_events_rejected_total", reason="seq_gap") == 1
    assert value(samples, "execstream_events_rejected_total", reason="invalid_field") == 1
    assert value(samples, "grpc_server_started_total", **rpc) == 4
    assert value(samples, "grpc_server_handled_total", grpc_code="OK", **rpc) == 2
    assert value(samples, "grpc_server_handled_total", grpc_code="FailedPrecondition", **rpc) == 1
    assert value(samples, "grpc_server_handled_total", grpc_code="InvalidArgument", **rpc) == 1
    assert value(samples, "grpc_server_msg_received_total", **rpc) == 4
    assert value(samples, "grpc_server_handling_seconds_count", **rpc) == 4


def test_watchers_gauge_and_stream_messages(metered: ServerThread) -> None:
    _, stub = stub_for(metered.address)
    run_task(stub, "a")
    call = stub.WatchExecution(service_pb.WatchExecutionRequest(after_revision=0))
    next(iter(call))
    assert value(scrape(metered), "execstream_watchers") == 1
    call.cancel()
    wait_for(lambda: value(scrape(metered), "execstream_watchers") == 0)
    rpc = {
        "grpc_type": "server_stream",
        "grpc_service": "execstream.v1.ExecutionService",
        "grpc_method": "WatchExecution",
    }
    samples = wait_for(
        lambda: (
            (s := scrape(metered))
            and value(s, "grpc_server_handled_total", grpc_code="Canceled", **rpc) == 1
            and s
        )
    )
    assert value(samples, "grpc_server_msg_sent_total", **rpc) >= 1


def test_counters_continue_from_the_durable_totals_after_a_restart(
    server_factory: Callable[..., ServerThread],
) -> None:
    first = server_factory(metrics_port=free_port())
    _, stub = stub_for(first.address)
    run_task(stub, "a")
    run_task(stub, "b")
    before = scrape(first)
    first.stop()
    second = server_factory(metrics_port=free_port())
    after = scrape(second)
    labels = {"backend": "ollama", "model": "llama3.2:3b"}
    for name, extra in (
        ("execstream_tokens_total", {"type": "input"}),
        ("execstream_tasks_finished_total", {"outcome": "SUCCEEDED"}),
        ("execstream_cost_usd_total", {}),
    ):
        assert value(after, name, **labels, **extra) == value(before, name, **labels, **extra)
    assert value(after, "execstream_tokens_total", type="input", **labels) == 200
