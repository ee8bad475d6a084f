"""The Python client against real servers: watch, snapshot, reporter, restarts, refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from execstream.client import (
    AsyncClient,
    Backoff,
    Client,
    ConnectOptions,
    ExecstreamError,
    ReportRefused,
    ResyncRequired,
    ServerRefused,
    Unreachable,
    pb,
)
from execstream.v1 import service_pb2 as service_pb
from execstream_server.transport.auth import Role, create_token

from tests.support.certs import write_certs
from tests.support.helpers import free_port, wait_for
from tests.support.processes import ServerProcess
from tests.support.server_thread import ServerThread

pytestmark = pytest.mark.server

FAST = Backoff(initial=0.02, maximum=0.2, give_up_after=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "x.db", "--heartbeat-interval", "0.2s").start()
    yield proc
    proc.kill()


def _client(server: ServerProcess) -> Client:
    return Client(ConnectOptions(target=server.address))


def _report_task(client: Client, task_id: str, lines: int, sidecar: str = "sc-1") -> None:
    with client.reporter(sidecar) as reporter:
        task = reporter.task(task_id)
        task.started(backend="shell", description="echo")
        for i in range(lines):
            task.stdout(f"line {i}\n")
        task.finished(pb.OUTCOME_SUCCEEDED, exit_code=0)


def _take(events: object, count: int) -> list[pb.ExecutionEvent]:
    iterator = iter(events)  # type: ignore[call-overload]
    return [next(iterator) for _ in range(count)]


def test_reporter_commits_everything_and_watch_replays_it(server: ServerProcess) -> None:
    with _client(server) as client:
        _report_task(client, "t1", 30)
        events = _take(client.watch(after_revision=0, backoff=FAST), 32)
        assert [e.seq for e in events] == list(range(1, 33))
        assert [e.revision for e in events] == list(range(1, 33))
        assert events[0].WhichOneof("body") == "started"
        assert events[-1].finished.exit_code == 0
        snapshot = client.snapshot()
        (state,) = snapshot.tasks
        assert (state.task_id, state.status, state.last_seq) == ("t1", pb.TASK_STATUS_SUCCEEDED, 32)
        assert snapshot.revision == 32


def test_snapshot_reads_every_page_unless_told_not_to(server: ServerProcess) -> None:
    with _client(server) as client, client.reporter("sc") as reporter:
        for i in range(25):
            reporter.task(f"task-{i:02}").started(backend="shell")
        reporter.flush()
        everything = client.snapshot(page_size=10)
        assert [t.task_id for t in everything.tasks] == [f"task-{i:02}" for i in range(25)]
        first = client.snapshot(page_size=10, all_pages=False)
        assert len(first.tasks) == 10 and first.next_page_token
        running = client.snapshot(statuses=[pb.TASK_STATUS_SUCCEEDED])
        assert not running.tasks


def test_watch_resumes_across_a_server_restart_without_gap_or_duplicate(
    server: ServerProcess,
) -> None:
    seen: list[pb.ExecutionEvent] = []
    with _client(server) as client:
        _report_task(client, "before", 20)

        def watch() -> None:
            for event in client.watch(after_revision=0, backoff=FAST):
                seen.append(event)
                if event.task_id == "after" and event.HasField("finished"):
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        wait_for(lambda: len(seen) == 22)
        server.kill()
        server.start()
        _report_task(client, "after", 20)
        watcher.join(30)
        assert not watcher.is_alive()
    assert [e.revision for e in seen] == list(range(1, 45))
    assert [(e.task_id, e.seq) for e in seen[22:]] == [("after", s) for s in range(1, 23)]


def test_live_watch_started_before_a_restart_misses_nothing(server: ServerProcess) -> None:
    """A live watch pins "now" to a revision, so even a reconnect before any event is exact."""
    seen: list[pb.ExecutionEvent] = []
    with _client(server) as client:
        _report_task(client, "old", 3)
        stream = client.watch(backoff=FAST)

        def watch() -> None:
            for event in stream:
                seen.append(event)
                if event.HasField("finished"):
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.3)  # let it connect (no assertion on timing: only on what arrives)
        server.kill()
        server.start()
        _report_task(client, "new", 3)
        watcher.join(30)
    assert [(e.task_id, e.seq) for e in seen] == [("new", s) for s in range(1, 6)]


def test_reporter_loses_and_duplicates_nothing_across_a_server_kill(
    server: ServerProcess,
) -> None:
    emitted = {"a": 0, "b": 0}
    with _client(server) as client, client.reporter("sc", backoff=FAST) as reporter:
        tasks = {name: reporter.task(name) for name in emitted}
        for name, task in tasks.items():
            task.started(backend="shell")
            emitted[name] += 1
        for round_ in range(300):
            for name, task in tasks.items():
                task.stdout(f"{name} {round_}\n")
                emitted[name] += 1
            if round_ == 100:
                server.kill()
            if round_ == 150:
                server.start()
            time.sleep(0.001)
        for name, task in tasks.items():
            task.finished(pb.OUTCOME_SUCCEEDED, exit_code=0)
            emitted[name] += 1
        reporter.flush()
        assert reporter.pending == 0
        states = {t.task_id: t for t in client.snapshot().tasks}
        assert {name: states[name].last_seq for name in emitted} == emitted
        assert reporter.committed_seqs == emitted  # what the server confirmed, per task
        events = _take(client.watch(after_revision=0, backoff=FAST), sum(emitted.values()))
    for name, count in emitted.items():
        assert [e.seq for e in events if e.task_id == name] == list(range(1, count + 1))
        lines = [e.stdout.text for e in events if e.task_id == name and e.HasField("stdout")]
        assert lines == [f"{name} {r}\n" for r in range(300)]


def test_resume_task_continues_after_the_last_committed_seq(server: ServerProcess) -> None:
    with _client(server) as client:
        with client.reporter("sc") as reporter:
            task = reporter.task("t")
            task.started(backend="shell")
            task.stdout("one\n")
        with client.reporter("sc") as reporter:
            task = reporter.resume_task("t")
            assert task.last_seq == 2
            task.finished(pb.OUTCOME_SUCCEEDED, exit_code=0)
        (state,) = client.snapshot().tasks
        assert (state.last_seq, state.status) == (3, pb.TASK_STATUS_SUCCEEDED)


def test_refused_events_raise_and_keep_what_was_accepted(server: ServerProcess) -> None:
    with _client(server) as client:
        _report_task(client, "mine", 1, sidecar="owner")
        reporter = client.reporter("intruder")
        reporter.start()
        reporter.task("other").started(backend="shell")
        reporter.flush()
        reporter.task("mine", next_seq=4).stdout("not yours\n")
        with pytest.raises(ReportRefused) as refused:
            reporter.flush()
        with pytest.raises(ReportRefused):
            reporter.task("other").stdout("after the refusal\n")
        reporter.close(flush=False)
        assert reporter.committed_seqs == {"other": 1}  # where to continue after the refusal
        assert refused.value.code in (
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert "seq" in refused.value.details or "sidecar" in refused.value.details
        states = {t.task_id: t.last_seq for t in client.snapshot().tasks}
        assert states == {"mine": 3, "other": 1}


def test_compacted_resume_point_asks_to_relist_or_relists(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "x.db", "--retain-events", "5", "--compact-interval", "0.05s"
    ).start()
    try:
        with _client(server) as client:
            _report_task(client, "t", 20)
            wait_for(lambda: client.snapshot().oldest_revision > 2)
            with pytest.raises(ResyncRequired):
                next(iter(client.watch(after_revision=0, backoff=FAST)))
            relisted: list[service_pb.Snapshot] = []
            stream = iter(client.watch(after_revision=0, backoff=FAST, on_relist=relisted.append))
            got: list[pb.ExecutionEvent] = []
            reader = threading.Thread(target=lambda: got.append(next(stream)), daemon=True)
            reader.start()
            wait_for(lambda: relisted)
            with client.reporter("sc") as reporter:
                reporter.task("later").started(backend="shell")
            reader.join(30)
            assert [s.revision for s in relisted] == [22]
            assert [t.task_id for t in relisted[0].tasks] == ["t"]
            assert [(e.task_id, e.revision) for e in got] == [("later", 23)]
    finally:
        server.kill()


def test_unreachable_server_is_one_clear_error() -> None:
    target = f"127.0.0.1:{free_port()}"
    with Client(ConnectOptions(target=target)) as client:
        with pytest.raises(Unreachable) as error:
            client.snapshot()
        assert str(error.value) == f"cannot reach execstream at {target}: connection refused"
        with pytest.raises(Unreachable):
            next(iter(client.watch(backoff=Backoff(initial=0.01, give_up_after=0.3))))


def test_async_client_has_the_same_methods(server: ServerProcess) -> None:
    async def scenario() -> tuple[list[pb.ExecutionEvent], service_pb.Snapshot]:
        async with AsyncClient(ConnectOptions(target=server.address)) as client:
            async with client.reporter("async-sc") as reporter:
                task = reporter.task("t")
                task.started(backend="ollama", model="llama3.2")
                for word in ("Hel", "lo"):
                    task.token(word)
                usage = pb.Usage(model="llama3.2", input_tokens=10, output_tokens=2)
                task.finished(pb.OUTCOME_SUCCEEDED, usage=usage)
            events = []
            async for event in client.watch(after_revision=0, backoff=FAST):
                events.append(event)
                if event.HasField("finished"):
                    break
            return events, await client.snapshot()

    events, snapshot = asyncio.run(scenario())
    assert "".join(e.token.text for e in events) == "Hello"
    (state,) = snapshot.tasks
    assert state.usage.output_tokens == 2
    assert state.cost.local and not state.cost.unpriced


def test_token_and_mtls_options_reach_every_call(
    server_factory: Callable[..., ServerThread], tmp_path: Path
) -> None:
    certs = write_certs(tmp_path)
    auth_file = str(tmp_path / "tokens.json")
    sidecar_token = create_token(auth_file, Role.SIDECAR, sidecar_id="sc1")
    viewer_token = create_token(auth_file, Role.VIEWER)
    server = server_factory(
        auth_file=auth_file,
        tls_cert=str(certs.server_cert),
        tls_key=str(certs.server_key),
        tls_client_ca=str(certs.ca),
    )
    secure = ConnectOptions(
        target=server.address,
        token=sidecar_token,
        ca_file=str(certs.ca),
        cert_file=str(certs.client_cert),
        key_file=str(certs.client_key),
        server_name="localhost",
    )
    assert secure.tls, "a CA file turns TLS on"
    with Client(secure) as client:
        with client.reporter("sc1") as reporter:
            reporter.task("secure-task").started(backend="shell")
        with pytest.raises(ReportRefused) as refused, client.reporter("sc2") as other:
            other.task("not-mine").started(backend="shell")
        assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
        # A sidecar token reads its own tasks' snapshot (to resend from), but cannot watch.
        assert [t.task_id for t in client.snapshot().tasks] == ["secure-task"]
        with pytest.raises(ServerRefused) as not_a_viewer:
            next(iter(client.watch(after_revision=0)))
        assert not_a_viewer.value.code == grpc.StatusCode.PERMISSION_DENIED
    viewer = dataclasses.replace(secure, token=viewer_token)
    with Client(viewer) as client:
        assert [t.task_id for t in client.snapshot().tasks] == ["secure-task"]
    no_token = dataclasses.replace(secure, token="")
    with Client(no_token) as client, pytest.raises(ServerRefused) as denied:
        client.snapshot()
    assert denied.value.code == grpc.StatusCode.UNAUTHENTICATED
    no_cert = dataclasses.replace(secure, cert_file="", key_file="")
    with Client(no_cert) as client, pytest.raises(Unreachable):
        client.snapshot()


def test_large_output_is_split_under_the_message_limit(server: ServerProcess) -> None:
    """300 events of 60 KiB (18 MB) in one flush: more than the server takes in one message."""
    chunk = "x" * (60 * 1024 - 1) + "\n"
    with _client(server) as client:
        with client.reporter("sc", flush_interval=1.0) as reporter:
            task = reporter.task("big")
            task.started(backend="shell")
            for _ in range(300):
                task.stdout(chunk)
            reporter.flush()
            assert reporter.committed == 301
        (state,) = client.snapshot().tasks
        assert state.last_seq == 301 and state.event_count == 301


def test_a_closed_reporter_refuses_events_instead_of_dropping_them(server: ServerProcess) -> None:
    with _client(server) as client:
        reporter = client.reporter("sc")
        with pytest.raises(RuntimeError, match="not started"):
            reporter.task("early").started(backend="shell")
        with reporter:
            task = reporter.task("t")
            task.started(backend="shell")
        with pytest.raises(ExecstreamError, match="closed"):
            task.stdout("too late\n")
        (state,) = client.snapshot().tasks
        assert state.last_seq == 1
