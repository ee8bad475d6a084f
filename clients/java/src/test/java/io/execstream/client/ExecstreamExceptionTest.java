package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.execstream.v1.ErrorReason;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class ExecstreamExceptionTest {
  private static StatusRuntimeException status(int code, com.google.protobuf.Message... details) {
    com.google.rpc.Status.Builder status =
        com.google.rpc.Status.newBuilder().setCode(code).setMessage("refused");
    for (com.google.protobuf.Message detail : details) {
      status.addDetails(Any.pack(detail));
    }
    return StatusProto.toStatusRuntimeException(status.build());
  }

  @Test
  void decodesReasonAndMetadata() {
    ExecstreamException decoded = ExecstreamException.decode(status(9, ErrorInfo.newBuilder()
        .setDomain("execstream.v1").setReason("SEQ_GAP")
        .putAllMetadata(Map.of("task_id", "t", "expected_seq", "4")).build()));
    assertEquals("FAILED_PRECONDITION", decoded.codeName());
    assertEquals(ErrorReason.SEQ_GAP, decoded.reason());
    assertEquals(OptionalLong.of(4), decoded.metadataLong("expected_seq"));
    assertEquals("refused", decoded.description());
    assertEquals("execstream.v1", decoded.domain());
  }

  @Test
  void anUnknownReasonKeepsItsName() {
    ExecstreamException decoded = ExecstreamException.decode(status(13, ErrorInfo.newBuilder()
        .setDomain("execstream.v1").setReason("FROM_A_NEWER_SERVER").build()));
    assertEquals(ErrorReason.ERROR_REASON_UNSPECIFIED, decoded.reason());
    assertEquals("FROM_A_NEWER_SERVER", decoded.reasonName());
  }

  @Test
  void errorInfoOfAnotherDomainIsNotAReason() {
    ExecstreamException decoded = ExecstreamException.decode(status(14, ErrorInfo.newBuilder()
        .setDomain("googleapis.com").setReason("SEQ_GAP").build()));
    assertEquals("", decoded.reasonName());
    assertEquals("", decoded.domain());
  }

  @Test
  void theFirstExecstreamErrorInfoGivesTheReason() {
    ExecstreamException decoded = ExecstreamException.decode(status(9,
        ErrorInfo.newBuilder().setDomain("proxy.example.com").setReason("UPSTREAM_RESET").build(),
        ErrorInfo.newBuilder().setDomain("execstream.v1").setReason("SEQ_GAP")
            .putMetadata("task_id", "t").build(),
        ErrorInfo.newBuilder().setDomain("execstream.v1").setReason("TASK_FINISHED")
            .putMetadata("last_seq", "9").build()));
    assertEquals("SEQ_GAP", decoded.reasonName());
    assertEquals("execstream.v1", decoded.domain());
    assertEquals(Map.of("task_id", "t"), decoded.metadata());
  }

  @Test
  void badRequestAndRetryInfoAreDecoded() {
    ExecstreamException decoded = ExecstreamException.decode(status(8,
        BadRequest.newBuilder().addFieldViolations(
            BadRequest.FieldViolation.newBuilder().setField("events[0].seq")).build(),
        RetryInfo.newBuilder().setRetryDelay(
            com.google.protobuf.Duration.newBuilder().setSeconds(1).setNanos(500_000_000)).build()));
    assertEquals("events[0].seq", decoded.violations().get(0).getField());
    assertEquals(Duration.ofMillis(1500), decoded.retryDelay());
  }

  @Test
  void aDecodedErrorIsReturnedAsItIs() {
    ExecstreamException decoded = ExecstreamException.decode(status(5));
    assertSame(decoded, ExecstreamException.decode(decoded));
  }
}
