package io.execstream.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.execstream.v1.ErrorReason;
import io.execstream.v1.ReportProgressResponse;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A non-OK status from the server with its google.rpc details decoded: the {@link
 * ErrorReason} and metadata of its ErrorInfo (domain "execstream.v1"), BadRequest field
 * violations, and the RetryInfo delay of a rate limit. The reason is {@code
 * ERROR_REASON_UNSPECIFIED} when the status carried no execstream ErrorInfo, as with statuses
 * gRPC itself produces (a dropped connection, a deadline).
 */
public class ExecstreamException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The ErrorInfo domain of every error execstream sends. */
  public static final String DOMAIN = "execstream.v1";

  private final Status.Code code;
  private final String description;
  private final String domain;
  private final String reasonName;
  private final Map<String, String> metadata;
  private final List<BadRequest.FieldViolation> violations;
  private final Duration retryDelay;
  private final ReportProgressResponse committed;

  private ExecstreamException(
      Status status,
      String domain,
      String reasonName,
      Map<String, String> metadata,
      List<BadRequest.FieldViolation> violations,
      Duration retryDelay,
      ReportProgressResponse committed,
      Throwable cause) {
    super(describe(status, reasonName), cause);
    this.code = status.getCode();
    this.description = status.getDescription() == null ? "" : status.getDescription();
    this.domain = domain;
    this.reasonName = reasonName;
    this.metadata = Map.copyOf(metadata);
    this.violations = List.copyOf(violations);
    this.retryDelay = retryDelay;
    this.committed = committed;
  }

  /** Copies another decoded error (for subclasses that add what the caller should do). */
  protected ExecstreamException(ExecstreamException other) {
    super(other.getMessage(), other);
    this.code = other.code;
    this.description = other.description;
    this.domain = other.domain;
    this.reasonName = other.reasonName;
    this.metadata = other.metadata;
    this.violations = other.violations;
    this.retryDelay = other.retryDelay;
    this.committed = other.committed;
  }

  /**
   * Decodes the status of a failed gRPC call ({@code StatusRuntimeException} or {@code
   * StatusException}, or anything with one as its cause); an ExecstreamException is returned
   * as it is.
   */
  public static ExecstreamException decode(Throwable error) {
    if (error instanceof ExecstreamException decoded) {
      return decoded;
    }
    Status status = Status.fromThrowable(error);
    com.google.rpc.Status details = StatusProto.fromThrowable(error);
    String domain = "";
    String reason = "";
    Map<String, String> metadata = new HashMap<>();
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
    Duration retryDelay = Duration.ZERO;
    ReportProgressResponse committed = null;
    for (Any detail : details == null ? List.<Any>of() : details.getDetailsList()) {
      try {
        if (detail.is(ErrorInfo.class) && reason.isEmpty()) {
          ErrorInfo info = detail.unpack(ErrorInfo.class);
          if (info.getDomain().equals(DOMAIN)) {
            domain = info.getDomain();
            reason = info.getReason();
            metadata.putAll(info.getMetadataMap());
          }
        } else if (detail.is(BadRequest.class)) {
          violations.addAll(detail.unpack(BadRequest.class).getFieldViolationsList());
        } else if (detail.is(RetryInfo.class)) {
          com.google.protobuf.Duration delay = detail.unpack(RetryInfo.class).getRetryDelay();
          retryDelay = Duration.ofSeconds(delay.getSeconds(), delay.getNanos());
        } else if (detail.is(ReportProgressResponse.class)) {
          committed = detail.unpack(ReportProgressResponse.class);
        }
      } catch (InvalidProtocolBufferException e) {
        // A detail that does not parse is not one the client can act on; the code and
        // message still are.
      }
    }
    return new ExecstreamException(
        status, domain, reason, metadata, violations, retryDelay, committed, error);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The code as gRPC names it everywhere, e.g. "FAILED_PRECONDITION". */
  public String codeName() {
    return code.name();
  }

  /** The server's message, for people. */
  public String description() {
    return description;
  }

  /** The ErrorInfo domain: "execstream.v1", or "" when there was no ErrorInfo. */
  public String domain() {
    return domain;
  }

  /** The reason; ERROR_REASON_UNSPECIFIED when absent or unknown to this client. */
  public ErrorReason reason() {
    if (reasonName.isEmpty()) {
      return ErrorReason.ERROR_REASON_UNSPECIFIED;
    }
    try {
      return ErrorReason.valueOf(reasonName);
    } catch (IllegalArgumentException unknown) {
      return ErrorReason.ERROR_REASON_UNSPECIFIED;
    }
  }

  /** The reason as sent, even one this client does not know; "" when absent. */
  public String reasonName() {
    return reasonName;
  }

  /** The ErrorInfo metadata; errors.proto lists the keys of each reason. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** A decimal metadata value such as "expected_seq", if present and a number. */
  public OptionalLong metadataLong(String key) {
    String text = metadata.get(key);
    if (text == null) {
      return OptionalLong.empty();
    }
    try {
      return OptionalLong.of(Long.parseUnsignedLong(text));
    } catch (NumberFormatException e) {
      return OptionalLong.empty();
    }
  }

  /** BadRequest field violations (INVALID_ARGUMENT). */
  public List<BadRequest.FieldViolation> violations() {
    return violations;
  }

  /** The RetryInfo delay (rate limits); zero when absent. */
  public Duration retryDelay() {
    return retryDelay;
  }

  /**
   * What a refused ReportProgress stream got committed: per task it touched, the store's last
   * seq. Empty when the status did not say (other calls, streams that broke without a word).
   */
  public Optional<ReportProgressResponse> committed() {
    return Optional.ofNullable(committed);
  }

  private static String describe(Status status, String reason) {
    String description = status.getDescription() == null ? "" : status.getDescription();
    String name = reason.isEmpty() ? status.getCode().name() : status.getCode() + " (" + reason + ")";
    return name + ": " + description;
  }
}
