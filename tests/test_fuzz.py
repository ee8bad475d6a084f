"""Hypothesis-generated ProgressReports never crash the server or corrupt its state."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream.v1 import service_pb2 as service_pb
from execstream.v1 import service_pb2_grpc
from execstream_server.domain.fold import fold
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support.server_thread import ServerThread
from .support.sidecar_sim import read_log

ids = st.one_of(st.sampled_from(["t1", "t2", "t3", "sc-a", "sc-b"]), st.text(max_size=12))
texts = st.text(max_size=200)
usage = st.builds(
    events_pb.Usage,
    model=st.text(max_size=20),
    input_tokens=st.integers(0, 10**9),
    output_tokens=st.integers(0, 10**6),
    cache_read_tokens=st.integers(0, 10**6),
    reasoning_tokens=st.integers(0, 10**6),
)
bodies = st.one_of(
    st.builds(lambda t: {"stdout": events_pb.OutputChunk(text=t)}, texts),
    st.builds(lambda t: {"token": events_pb.TokenChunk(text=t)}, texts),
    st.builds(
        lambda b, m: {"started": events_pb.Started(backend=b, model=m)}, st.text(max_size=10), texts
    ),
    st.builds(
        lambda s, u: {"status": events_pb.StatusChange(status=s, usage=u)}, st.integers(0, 8), usage
    ),
    st.builds(lambda m: {"error": events_pb.ErrorReport(message=m)}, texts),
    st.builds(
        lambda o, u: {"finished": events_pb.Finished(outcome=o, usage=u)}, st.integers(0, 4), usage
    ),
    st.just({}),
)
events = st.builds(
    lambda task, seq, body, attempt: events_pb.ExecutionEvent(
        task_id=task, seq=seq, attempt=attempt, **body
    ),
    ids,
    st.integers(0, 6),
    bodies,
    st.integers(0, 3),
)
random_reports = st.builds(
    lambda sc, evs: service_pb.ProgressReport(sidecar_id=sc, events=evs),
    st.sampled_from(["sc-a", "sc-b", "", "bad id"]),
    st.lists(events, max_size=8),
)
valid_bodies = st.one_of(
    st.builds(lambda t: {"stdout": events_pb.OutputChunk(text=t)}, st.text(max_size=50)),
    st.just({"started": events_pb.Started(backend="ollama", model="llama3")}),
    st.just({"status": events_pb.StatusChange(status=events_pb.TASK_STATUS_RUNNING)}),
    st.builds(lambda o: {"finished": events_pb.Finished(outcome=o)}, st.integers(1, 3)),
)
# A run of consecutive seqs of one task, starting near its likely next seq.
valid_runs = st.builds(
    lambda task, start, chosen: [
        events_pb.ExecutionEvent(task_id=task, seq=start + i, **body)
        for i, body in enumerate(chosen)
    ],
    st.sampled_from(["t1", "t2", "t3", "t4", "t5"]),
    st.integers(1, 6),
    st.lists(valid_bodies, min_size=1, max_size=4),
)
# Mostly well-formed reports (so state builds up and later reports meet gaps, duplicates,
# finished and foreign tasks), mixed with arbitrary ones.
reports = st.one_of(
    st.builds(
        lambda sc, evs: service_pb.ProgressReport(sidecar_id=sc, events=evs),
        st.sampled_from(["sc-a", "sc-a", "sc-b"]),
        valid_runs,
    ),
    random_reports,
)
pytestmark = pytest.mark.server

EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,  # a generated resend of a seq with other content
    grpc.StatusCode.PERMISSION_DENIED,
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from .support.server_thread import make_config

    server = ServerThread(make_config(tmp_path_factory.mktemp("fuzz"))).start()
    channel = grpc.insecure_channel(server.address)
    yield server, service_pb2_grpc.ExecutionServiceStub(channel)
    channel.close()
    server.stop()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stream=st.lists(reports, min_size=1, max_size=3))
def test_generated_reports_get_an_expected_status(
    fuzzed: Any, stream: list[service_pb.ProgressReport]
) -> None:
    _, stub = fuzzed
    code = grpc.StatusCode.OK
    try:
        stub.ReportProgress(iter(stream), timeout=10)
    except grpc.RpcError as error:
        code = error.code()
    assert code in EXPECTED


def test_state_after_fuzzing_is_the_fold_of_the_log(fuzzed: Any) -> None:
    server, stub = fuzzed
    snap = stub.GetSnapshot(service_pb.GetSnapshotRequest(page_size=10_000))
    assert snap.revision > 0, "the generated reports never stored anything"
    log = read_log(server.address, snap.revision)
    assert [e.revision for e in log] == list(range(1, snap.revision + 1))
    folded: dict[str, Any] = {}
    for ev in log:
        folded[ev.task_id] = fold(folded.get(ev.task_id), [ev], tail_bytes=4096)
    assert {t.task_id: t for t in snap.tasks} == folded
