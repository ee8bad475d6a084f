package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RetryingTest {
  private static Retrying.Decision decide(String method, Status.Code code, String reason, String... metadata) {
    com.google.rpc.Status.Builder status =
        com.google.rpc.Status.newBuilder().setCode(code.value()).setMessage("refused");
    if (!reason.isEmpty()) {
      ErrorInfo.Builder info = ErrorInfo.newBuilder().setDomain("execstream.v1").setReason(reason);
      for (int i = 0; i + 1 < metadata.length; i += 2) {
        info.putMetadata(metadata[i], metadata[i + 1]);
      }
      status.addDetails(Any.pack(info.build()));
    }
    ExecstreamException refusal =
        ExecstreamException.decode(StatusProto.toStatusRuntimeException(status.build()));
    return Retrying.decide(ServiceConfig.retryPolicy(method), method, refusal);
  }

  @ParameterizedTest(name = "{0} {1} {2} -> {3}")
  @CsvSource({
    "ReportProgress, UNAVAILABLE, STORE_UNAVAILABLE, RETRY, false",
    "WatchExecution, CANCELLED, '', RETRY, false",
    "ReportProgress, RESOURCE_EXHAUSTED, RATE_LIMITED, RETRY, true",
    "WatchExecution, RESOURCE_EXHAUSTED, LIMIT_EXCEEDED, RETRY, true",
    "ReportProgress, RESOURCE_EXHAUSTED, '', STOP, false",
    "WatchExecution, OUT_OF_RANGE, REVISION_COMPACTED, RELIST, false",
    "GetSnapshot, DEADLINE_EXCEEDED, '', STOP, false",
    "ReportProgress, INTERNAL, INTERNAL_ERROR, STOP, false",
    "ReportProgress, FAILED_PRECONDITION, SEQ_GAP, STOP, false",
  })
  void theRetryRules(String method, Status.Code code, String reason, Retrying.Action action, boolean atLeast) {
    Retrying.Decision decision = decide(method, code, reason);
    assertEquals(action, decision.action());
    assertEquals(atLeast, decision.atLeast());
  }

  @Test
  void aSlowWatcherResumesFromItsResumeRevision() {
    Retrying.Decision decision =
        decide("WatchExecution", Status.Code.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW", "resume_revision", "41");
    assertEquals(Retrying.Action.RESUME, decision.action());
    assertEquals(OptionalLong.of(41), decision.resumeRevision());
  }
}
