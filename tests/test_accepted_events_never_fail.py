"""Property: whatever admission accepts, nothing after it can raise.

Hypothesis builds reports of arbitrary events, with numbers at and around every bound
(token counts near 2^40, times at 0001-01-01 and 9999-12-31, the largest prices a table
may hold). Each goes through the real path: validation, the store's admission and commit
(in-memory SQLite), the fold, pricing, the totals, the metrics and the hub; then the
snapshot and every event are rendered as proto JSON and by the CLI's renderers. A refusal
must be a domain error; anything else raising, or the engine failing, is a bug.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from execstream.cli.render import EventPrinter, cost_line, event_json, usage_line
from execstream.cli.snapshot_csv import write_csv
from execstream.cli.snapshot_table import snapshot_table
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream_server.config import (
    MAX_TIMESTAMP_SECONDS,
    MAX_TOKENS,
    MAX_USD_PER_MTOK,
    MIN_TIMESTAMP_SECONDS,
    Limits,
    ServerConfig,
)
from execstream_server.domain.engine import Engine
from execstream_server.domain.errors import DomainError, InternalError
from execstream_server.domain.pricing import PriceTable, load_price_table
from execstream_server.domain.validation import validate_report
from execstream_server.store.sqlite import SqliteStore
from execstream_server.transport.metrics import ServerMetrics
from google.protobuf.json_format import MessageToDict, MessageToJson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

NEAR_MAX = [0, 1, MAX_TOKENS // 3, MAX_TOKENS // 2, MAX_TOKENS - 1, MAX_TOKENS, MAX_TOKENS + 1]
# Mostly in range (so events get accepted and add up), sometimes far past the bound.
counts = st.one_of(
    st.just(0),
    st.just(0),
    st.sampled_from(NEAR_MAX),
    st.sampled_from(NEAR_MAX),
    st.integers(0, MAX_TOKENS),
    st.integers(0, 2**64 - 1),
)
names = st.one_of(
    st.sampled_from(["", "claude-opus-4-1", "claude-sonnet-4-5", "llama3", "x" * 256]),
    st.text(max_size=30),
)
backends = st.sampled_from(["", "anthropic", "ollama", "shell", "b" * 64])
usages = st.builds(
    events_pb.Usage,
    model=names,
    backend=backends,
    input_tokens=counts,
    cache_read_tokens=counts,
    cache_write_tokens=counts,
    cache_write_one_hour_tokens=counts,
    output_tokens=counts,
    reasoning_tokens=st.sampled_from([0, 0, 1, MAX_TOKENS]),
    estimated=st.booleans(),
)
seconds = st.one_of(
    st.sampled_from([MIN_TIMESTAMP_SECONDS, MAX_TIMESTAMP_SECONDS, 0, -1]),
    st.integers(MIN_TIMESTAMP_SECONDS, MAX_TIMESTAMP_SECONDS),
)
nanos = st.sampled_from([0, 1, 999_999_999])
texts = st.text(max_size=60)
int32s = st.integers(-(2**31), 2**31 - 1)
bodies: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(
        lambda b, m, labels: {"started": events_pb.Started(backend=b, model=m, labels=labels)},
        backends,
        names,
        st.dictionaries(st.text(min_size=1, max_size=8), texts, max_size=3),
    ),
    st.builds(lambda t: {"token": events_pb.TokenChunk(text=t)}, texts),
    st.builds(lambda t: {"stdout": events_pb.OutputChunk(text=t)}, texts),
    st.builds(lambda t: {"stderr": events_pb.OutputChunk(text=t)}, texts),
    st.builds(
        lambda s, u: {"status": events_pb.StatusChange(status=s, usage=u, message="m")},
        st.sampled_from([1, 2, 3]),
        usages,
    ),
    st.builds(
        lambda u, a: {"error": events_pb.ErrorReport(message="e", usage=u, attempt=a)},
        usages,
        st.integers(0, 2**32 - 1),
    ),
    st.builds(
        lambda n, i: {"tool_call": events_pb.ToolCall(tool_name=n, iteration=i)},
        texts,
        st.integers(0, 2**32 - 1),
    ),
    st.builds(
        lambda o, u, code, cost: {
            "finished": events_pb.Finished(
                outcome=o, usage=u, exit_code=code, reported_cost_nanos=cost
            )
        },
        st.sampled_from([1, 2, 3]),
        usages,
        int32s,
        st.integers(-(2**63), 2**63 - 1),
    ),
)
event_specs = st.tuples(
    st.sampled_from(["t1", "t1", "t2"]),
    bodies,
    st.one_of(st.none(), st.tuples(seconds, nanos)),
    st.integers(0, 2**32 - 1),
)

MAX_PRICE_TABLE = f"""
version = "max"
reference_model = "dear"
[models."dear"]
input = {MAX_USD_PER_MTOK}
output = {MAX_USD_PER_MTOK}
effective_from = 2026-01-01
source = "test"
[models."*"]
input = {MAX_USD_PER_MTOK}
output = {MAX_USD_PER_MTOK}
cache_read = {MAX_USD_PER_MTOK}
cache_write = {MAX_USD_PER_MTOK}
cache_write_1h = {MAX_USD_PER_MTOK}
effective_from = 2026-01-01
source = "test"
[[models."*".tiers]]
above_prompt_tokens = 1
input = {MAX_USD_PER_MTOK}
output = {MAX_USD_PER_MTOK}
"""


@pytest.fixture(scope="module", params=["default", "max-prices"])
def price_table(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "default":
        return load_price_table()
    path: Path = tmp_path_factory.mktemp("prices") / "max.toml"
    path.write_text(MAX_PRICE_TABLE)
    return load_price_table(str(path))


def _reports(specs: list[tuple[str, dict[str, Any], Any, int]]) -> list[service_pb.ProgressReport]:
    """Number each task's events from seq 1, in reports of up to three events."""
    next_seq: dict[str, int] = {}
    events = []
    for task_id, body, time, attempt in specs:
        seq = next_seq[task_id] = next_seq.get(task_id, 0) + 1
        ev = events_pb.ExecutionEvent(task_id=task_id, seq=seq, attempt=attempt, **body)
        if time is not None:
            ev.time.seconds, ev.time.nanos = time
        events.append(ev)
    return [
        service_pb.ProgressReport(sidecar_id="sc", events=events[i : i + 3])
        for i in range(0, len(events), 3)
    ]


def _render(engine: Engine) -> None:
    """Everything a snapshot and a watcher show, in every format we ship."""
    page = engine.snapshot(task_ids=[], statuses=frozenset(), page_size=1000, after_task_id="")
    snapshot = service_pb.Snapshot(revision=page.revision, tasks=page.tasks)
    snapshot.totals.CopyFrom(page.totals)
    MessageToJson(snapshot)
    json.dumps(MessageToDict(snapshot, preserving_proto_field_name=True))
    for width in (80, 250):
        table, notes = snapshot_table(snapshot, width, filtered=False)
        Console(file=io.StringIO(), width=width).print(table, *notes)
    write_csv(snapshot, io.StringIO())
    for task in snapshot.tasks:
        cost_line(task.cost)
        usage_line(task.usage)


async def _run(table: PriceTable, reports: list[service_pb.ProgressReport]) -> None:
    limits = Limits()
    store = SqliteStore(":memory:", pricer=table)
    metrics = ServerMetrics(known_labels=table.known_labels())
    engine = Engine(store, ServerConfig(limits=limits), observers=[metrics])
    await engine.start()
    printer = EventPrinter(Console(file=io.StringIO(), width=80))
    try:
        for report in reports:
            try:
                validate_report(report, limits)
                result = await store.append(report.sidecar_id, report.events)
            except InternalError:
                raise
            except DomainError:
                continue  # a refusal: fine, as long as it is a domain error
            await engine.wait_applied(result.last_revision, wait_s=10)
        assert engine.failure is None, engine.failure
        _render(engine)
        for record in await store.read(0, limit=10_000):
            event = events_pb.ExecutionEvent.FromString(record.payload)
            MessageToJson(event)
            event_json(event)
            printer.print(event)
        printer.close()
        metrics.registry.collect()
    finally:
        await engine.stop()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(event_specs, min_size=1, max_size=12))
def test_no_accepted_event_makes_anything_after_admission_raise(
    price_table: PriceTable, specs: list[tuple[str, dict[str, Any], Any, int]]
) -> None:
    run: Callable[[], Any] = lambda: _run(price_table, _reports(specs))  # noqa: E731
    asyncio.run(run())
