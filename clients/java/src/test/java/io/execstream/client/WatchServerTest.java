package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.execstream.v1.ErrorReason;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.Progress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WatchServerTest {
  @TempDir Path directory;

  static void reportLines(Reporter reporter, Task task, String prefix, int count) {
    for (int i = 0; i < count; i++) {
      task.stdout(prefix + " " + i + "\n");
    }
    reporter.flush();
  }

  /** Reads count events and checks they carry the revisions from+1, from+2, ... */
  static List<ExecutionEvent> nextEvents(Watch watch, long from, int count) {
    List<ExecutionEvent> events = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      ExecutionEvent event = watch.next();
      assertEquals(from + i + 1, event.getRevision(), "a gap or a duplicate at event " + i);
      events.add(event);
    }
    return events;
  }

  @Test
  void aReplayFromZeroIsInOrderAndOpensWithTheLogIdentity() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar");
      reportLines(reporter, reporter.task("replay"), "line", 5);
      AtomicReference<Progress> first = new AtomicReference<>();
      try (Watch watch = client.watch(WatchOptions.after(0).withOnProgress(p -> first.compareAndSet(null, p)))) {
        List<ExecutionEvent> events = nextEvents(watch, 0, 5);
        assertEquals(5, events.get(4).getSeq());
        assertEquals("line 4\n", events.get(4).getStdout().getText());
        assertNotNull(first.get(), "no opening Progress");
        assertEquals(0, first.get().getRevision());
        assertFalse(first.get().getLogId().isEmpty());
        assertEquals(first.get().getLogId(), watch.logId());
      }
    }
  }

  @Test
  void aLiveWatchStartsExactlyAtItsFirstProgress() throws Exception {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar");
      Task task = reporter.task("live");
      reportLines(reporter, task, "old", 3);
      try (Watch watch = client.watch(WatchOptions.live())) {
        assertEquals(3, watch.start());
        assertTrue(watch.caughtUp(), "a live watch is caught up from its first message");
        CompletableFuture<ExecutionEvent> next = CompletableFuture.supplyAsync(watch::next);
        reportLines(reporter, task, "new", 1);
        ExecutionEvent event = next.get();
        assertEquals(4, event.getRevision());
        assertEquals("new 0\n", event.getStdout().getText());
      }
    }
  }

  @Test
  void aWatchResumesAcrossAKilledServerWithNoGapOrDuplicate() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar");
      Task task = reporter.task("resume");
      reportLines(reporter, task, "before", 10);
      try (Watch watch = client.watch(WatchOptions.after(0))) {
        nextEvents(watch, 0, 10);
        server.restart(); // kill -9, then start on the same port and store
        reportLines(reporter, task, "after", 10);
        List<ExecutionEvent> events = nextEvents(watch, 10, 10);
        assertEquals(11, events.get(0).getSeq());
        assertEquals(20, events.get(9).getSeq());
        assertTrue(watch.reconnects() > 0, "the watch never reconnected");
      }
    }
  }

  @Test
  void aWatchOnAReplacedLogAsksForAResync() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
      Reporter reporter = client.reporter("java-sidecar");
      reportLines(reporter, reporter.task("old-log"), "old", 3);
      try (Watch watch = client.watch(WatchOptions.after(0))) {
        nextEvents(watch, 0, 3);
        String oldLog = watch.logId();
        server.restartOnNewStore();
        reportLines(reporter, reporter.task("new-log"), "new", 5); // the new log passes revision 3
        ResyncRequiredException resync = assertThrows(ResyncRequiredException.class, watch::next);
        assertEquals(oldLog, resync.oldLogId());
        assertFalse(resync.newLogId().isEmpty());
        assertNotEquals(oldLog, resync.newLogId());
      }
    }
  }

  @Test
  void aWatchAfterTheHeadAsksForAResync() {
    try (TestServer server = TestServer.start(directory);
        ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""));
        Watch watch = client.watch(WatchOptions.after(1000))) {
      ResyncRequiredException resync = assertThrows(ResyncRequiredException.class, watch::next);
      assertEquals(ErrorReason.REVISION_IN_FUTURE, resync.refusal().reason());
      assertEquals("0", resync.refusal().metadata().get("head_revision"));
    }
  }
}
