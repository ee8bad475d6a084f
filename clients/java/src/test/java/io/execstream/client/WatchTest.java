package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import io.execstream.v1.ErrorReason;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.Progress;
import io.execstream.v1.WatchExecutionResponse;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** How a watch reads what ended its stream; the server tests cover the resume itself. */
class WatchTest {
  private static Watch watchAt(long revision) {
    return new Watch(null, WatchOptions.after(revision));
  }

  private static StatusRuntimeException refusal(int code, String reason, String... metadata) {
    ErrorInfo.Builder info = ErrorInfo.newBuilder().setDomain("execstream.v1").setReason(reason);
    for (int i = 0; i + 1 < metadata.length; i += 2) {
      info.putMetadata(metadata[i], metadata[i + 1]);
    }
    return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
        .setCode(code).setMessage("refused").addDetails(Any.pack(info.build())).build());
  }

  @Test
  void watcherTooSlowResumesAtOnceFromItsOwnCursor() {
    Watch watch = watchAt(50);
    watch.failed(refusal(8, "WATCHER_TOO_SLOW", "resume_revision", "40"));
    assertEquals(OptionalLong.of(50), watch.revision(), "never back before what it has");
  }

  @Test
  void aWatchWithNoCursorResumesFromTheResumeRevision() {
    Watch watch = new Watch(null, WatchOptions.live());
    watch.failed(refusal(8, "WATCHER_TOO_SLOW", "resume_revision", "40"));
    assertEquals(OptionalLong.of(40), watch.revision());
  }

  @Test
  void theResumeRevisionNeverSkipsPastWhatWasReceived() {
    Watch watch = watchAt(50);
    watch.failed(refusal(8, "WATCHER_TOO_SLOW", "resume_revision", "60"));
    assertEquals(OptionalLong.of(50), watch.revision());
  }

  @Test
  void outOfRangeIsResyncRequired() {
    Watch watch = watchAt(7);
    ResyncRequiredException resync = assertThrows(ResyncRequiredException.class,
        () -> watch.failed(refusal(11, "REVISION_COMPACTED", "oldest_revision", "100")));
    assertEquals(7, resync.afterRevision());
    assertEquals(ErrorReason.REVISION_COMPACTED, resync.refusal().reason());
  }

  @Test
  void aRefusalThatRetryingCannotCureIsThrown() {
    Watch watch = watchAt(0);
    ExecstreamException refused = assertThrows(ExecstreamException.class,
        () -> watch.failed(refusal(7, "ROLE_FORBIDDEN")));
    assertEquals(ErrorReason.ROLE_FORBIDDEN, refused.reason());
  }

  @Test
  void anEventAtOrBelowTheCursorIsNotDeliveredTwice() {
    Watch watch = watchAt(5);
    watch.accept(WatchExecutionResponse.newBuilder()
        .addAllEvents(List.of(
            ExecutionEvent.newBuilder().setRevision(4).build(),
            ExecutionEvent.newBuilder().setRevision(5).build(),
            ExecutionEvent.newBuilder().setRevision(6).build()))
        .setProgress(Progress.newBuilder().setRevision(5).setLogId("log-a"))
        .build());
    assertEquals(6, watch.next().getRevision());
    assertEquals(OptionalLong.of(6), watch.revision());
    assertEquals("log-a", watch.logId());
  }

  @Test
  void aHeartbeatAdvancesTheCursor() {
    Watch watch = watchAt(5);
    watch.accept(WatchExecutionResponse.newBuilder()
        .setProgress(Progress.newBuilder().setRevision(9)).build());
    assertEquals(OptionalLong.of(9), watch.revision());
  }

  @Test
  void aWatchOnAnotherLogThanTheSnapshotsAsksForAResync() {
    Watch watch = new Watch(null, WatchOptions.after(5).withLogId("log-a"));
    ResyncRequiredException resync = assertThrows(ResyncRequiredException.class,
        () -> watch.accept(WatchExecutionResponse.newBuilder()
            .setProgress(Progress.newBuilder().setRevision(5).setLogId("log-b")).build()));
    assertEquals("log-a", resync.oldLogId());
    assertEquals("log-b", resync.newLogId());
  }
}
