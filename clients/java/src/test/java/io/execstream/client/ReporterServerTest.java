package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.execstream.v1.ErrorReason;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.ExecutionServiceGrpc;
import io.execstream.v1.Finished;
import io.execstream.v1.GetSnapshotRequest;
import io.execstream.v1.OutputChunk;
import io.execstream.v1.Outcome;
import io.execstream.v1.Started;
import io.execstream.v1.TaskState;
import io.execstream.v1.Usage;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ReporterServerTest {
  @TempDir Path directory;

  static TaskState task(ExecstreamClient client, String taskId) {
    List<TaskState> tasks =
        client.snapshot(GetSnapshotRequest.newBuilder().addTaskIds(taskId).build()).getTasksList();
    assertEquals(1, tasks.size(), "tasks named " + taskId);
    return tasks.get(0);
  }

  static ExecutionEvent.Builder stdout(String text) {
    return ExecutionEvent.newBuilder().setStdout(OutputChunk.newBuilder().setText(text));
  }

  @Test
  void flushCommitsEventsNumberedPerTask() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar").withMaxBatch(2);
      Task first = reporter.task("first");
      Task second = reporter.task("second");
      for (int i = 0; i < 5; i++) {
        first.stdout("first " + i + "\n");
        if (i < 3) {
          second.stdout("second " + i + "\n");
        }
      }
      reporter.flush();
      assertEquals(5, task(client, "first").getLastSeq());
      assertEquals(3, task(client, "second").getLastSeq());
      assertEquals(0, reporter.pending());
    }
  }

  @Test
  void flushResendsWhatAKilledServerLost() throws Exception {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar");
      Task task = reporter.task("crash");
      for (int i = 0; i < 3; i++) {
        task.stdout("before " + i + "\n");
      }
      reporter.flush();
      server.kill();
      for (int i = 0; i < 3; i++) {
        task.stdout("after " + i + "\n");
      }
      CompletableFuture<Void> flushed = CompletableFuture.runAsync(reporter::flush);
      server.restart();
      flushed.get();
      TaskState state = task(client, "crash");
      assertEquals(6, state.getLastSeq());
      assertEquals(6, state.getEventCount());
    }
  }

  /** Fails the first ReportProgress with UNAVAILABLE after the server has answered it. */
  static ClientInterceptor loseFirstAck(AtomicInteger calls) {
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(
          MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        ClientCall<Q, R> call = next.newCall(method, options);
        if (!method.equals(ExecutionServiceGrpc.getReportProgressMethod())
            || calls.incrementAndGet() != 1) {
          return call;
        }
        return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
          @Override
          public void start(Listener<R> listener, Metadata headers) {
            super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
              @Override
              public void onMessage(R message) {} // the acknowledgement is lost

              @Override
              public void onClose(Status status, Metadata trailers) {
                super.onClose(Status.UNAVAILABLE.withDescription("the acknowledgement was lost"), trailers);
              }
            }, headers);
          }
        };
      }
    };
  }

  @Test
  void aLostAcknowledgementIsSettledFromTheSnapshotNotResent() {
    AtomicInteger calls = new AtomicInteger();
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client =
            new ExecstreamClient(ConnectOptions.of(server.address(), ""), loseFirstAck(calls))) {
      Reporter reporter = client.reporter("java-sidecar");
      Task task = reporter.task("lost-ack");
      for (int i = 0; i < 4; i++) {
        task.stdout("line " + i + "\n");
      }
      reporter.flush();
      assertEquals(1, calls.get(), "ReportProgress calls: the committed events were resent");
      assertEquals(4, task(client, "lost-ack").getLastSeq());
    }
  }

  @Test
  void aSeqGapIsRefusedWithTheExpectedSeq() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      client.report("java-sidecar", List.of(stdout("x\n").setTaskId("gap").setSeq(1).build()));
      ExecstreamException refused = assertThrows(ExecstreamException.class, () ->
          client.report("java-sidecar", List.of(stdout("x\n").setTaskId("gap").setSeq(3).build())));
      assertEquals("FAILED_PRECONDITION", refused.codeName());
      assertEquals(ErrorReason.SEQ_GAP, refused.reason());
      assertEquals("2", refused.metadata().get("expected_seq"));
      assertEquals("gap", refused.metadata().get("task_id"));
    }
  }

  @Test
  void aResentSeqWithOtherContentIsASeqConflict() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter original = client.reporter("java-sidecar");
      original.task("conflict").stdout("the first run\n");
      original.flush();
      Reporter rerun = client.reporter("java-sidecar");
      rerun.task("conflict").stdout("a second run\n");
      ExecstreamException refused = assertThrows(ExecstreamException.class, rerun::flush);
      assertEquals(ErrorReason.SEQ_CONFLICT, refused.reason());
      assertEquals("ALREADY_EXISTS", refused.codeName());
      assertEquals("conflict", refused.metadata().get("task_id"));
      assertEquals("1", refused.metadata().get("seq"));
      assertEquals(1, rerun.pending(), "the refused event was dropped");
    }
  }

  @Test
  void aOneHourCacheWriteIsBilled() throws Exception {
    Path prices = directory.resolve("prices.toml");
    Files.writeString(prices, """
        version = "java-test"
        source = "the Java client's tests"
        reference_model = "java-test-model"

        [models."java-test-model"]
        backend = "anthropic"
        input = 1.00
        output = 2.00
        cache_read = 0.10
        cache_write = 1.25
        cache_write_1h = 3.00
        effective_from = 2026-01-01
        source = "the Java client's tests"
        """);
    try (TestServer server = TestServer.start(directory, "--pricing", prices.toString());
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar");
      Task task = reporter.task("cache-1h");
      task.started(Started.newBuilder().setBackend("anthropic").setModel("java-test-model").build());
      task.finished(Finished.newBuilder()
          .setOutcome(Outcome.OUTCOME_SUCCEEDED)
          .setUsage(Usage.newBuilder().setModel("java-test-model").setCacheWriteOneHourTokens(1_000_000))
          .build());
      reporter.flush();
      TaskState state = task(client, "cache-1h");
      assertEquals(1_000_000, state.getUsage().getCacheWriteOneHourTokens());
      // 1,000,000 tokens at 3.00 USD per million: 3 USD.
      assertEquals(3_000_000_000L, state.getCost().getActual().getCacheWriteNanos());
    }
  }

  /** Counts the calls of one method. */
  static ClientInterceptor counting(MethodDescriptor<?, ?> counted, AtomicInteger calls) {
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(
          MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        if (method.equals(counted)) {
          calls.incrementAndGet();
        }
        return next.newCall(method, options);
      }
    };
  }

  @Test
  void aRateLimitedFlushResendsWhatTheRefusalSaysIsMissing() {
    AtomicInteger snapshots = new AtomicInteger();
    AtomicInteger reports = new AtomicInteger();
    try (TestServer server = TestServer.start(
            directory, "--sidecar-events-per-second", "20", "--sidecar-burst-events", "5");
        ExecstreamClient counted = new ExecstreamClient(ConnectOptions.of(server.address(), ""),
            counting(ExecutionServiceGrpc.getGetSnapshotMethod(), snapshots),
            counting(ExecutionServiceGrpc.getReportProgressMethod(), reports));
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = counted.reporter("java-sidecar").withMaxBatch(5);
      Task task = reporter.task("limited");
      for (int i = 0; i < 12; i++) {
        task.stdout("line " + i + "\n");
      }
      reporter.flush();
      assertTrue(reports.get() >= 2, "the rate limit never refused a report");
      assertEquals(0, snapshots.get(), "GetSnapshot calls: the refusal's committed seqs were not used");
      TaskState state = task(client, "limited");
      assertEquals(12, state.getLastSeq());
      assertEquals(12, state.getEventCount());
    }
  }
}
