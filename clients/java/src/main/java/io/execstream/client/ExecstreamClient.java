package io.execstream.client;

import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.ExecutionServiceGrpc;
import io.execstream.v1.GetSnapshotRequest;
import io.execstream.v1.ReportProgressResponse;
import io.execstream.v1.Snapshot;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A connection to execstream with the shared service config (retry codes and backoff) and
 * the bearer token, and the thin helpers over the generated stubs: a resumable {@link Watch},
 * a seq-numbering {@link Reporter}, one-call {@link #report} and all-pages {@link #snapshot}.
 * For anything else use {@link #stub()} or {@link #blockingStub()}, the generated ones.
 */
public final class ExecstreamClient implements AutoCloseable {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final Channel intercepted;

  /**
   * Connects (lazily, as grpc-java channels do) as {@code options} say. The shared service
   * config gives each method its deadline; grpc-java's own retries stay off: the helpers retry
   * by the same table in their own loops ({@link #snapshot}'s pages, {@link Watch}, {@link
   * Reporter}), as every execstream client does, so a call is never retried twice over and
   * {@link #report} is one call.
   */
  public ExecstreamClient(ConnectOptions options, ClientInterceptor... interceptors) {
    this.channel =
        Grpc.newChannelBuilder(options.targetOrDefault(), credentials(options))
            .defaultServiceConfig(ServiceConfig.asMap())
            .disableRetry()
            .build();
    Channel withToken =
        options.token() == null || options.token().isEmpty()
            ? channel
            : ClientInterceptors.intercept(channel, bearer(options.token()));
    this.intercepted = ClientInterceptors.intercept(withToken, interceptors);
  }

  /** The generated async stub on this connection. */
  public ExecutionServiceGrpc.ExecutionServiceStub stub() {
    return ExecutionServiceGrpc.newStub(intercepted);
  }

  /** The generated blocking stub on this connection. */
  public ExecutionServiceGrpc.ExecutionServiceBlockingStub blockingStub() {
    return ExecutionServiceGrpc.newBlockingStub(intercepted);
  }

  /** A watch; it opens its stream on the first {@link Watch#start} or {@link Watch#next}. */
  public Watch watch(WatchOptions options) {
    return new Watch(blockingStub(), options);
  }

  /** A reporter for {@code sidecarId} with the default batch size and reconnect budget. */
  public Reporter reporter(String sidecarId) {
    return new Reporter(this, sidecarId, Reporter.DEFAULT_MAX_BATCH, Reporter.DEFAULT_GIVE_UP_AFTER);
  }

  /**
   * One ReportProgress call with {@code events} exactly as given (seqs included: nothing is
   * numbered, nothing is resent), as one ProgressReport, so all of them are stored or none.
   * Returns once they are committed.
   *
   * @throws ExecstreamException the call's error, decoded, for any status (an UNAVAILABLE
   *     too: SHUTTING_DOWN, with what the call got committed in {@code committed()})
   */
  public ReportProgressResponse report(String sidecarId, List<ExecutionEvent> events) {
    try {
      return Reporter.call(stub(), sidecarId, events, Math.max(1, events.size()));
    } catch (StatusRuntimeException e) {
      throw ExecstreamException.decode(e);
    }
  }

  /**
   * Every page of GetSnapshot as one Snapshot: the first page with the later pages' tasks
   * appended. Later pages may be at later revisions; the first page's revision is the one to
   * watch from (skip a task's watched events at or below its last_revision), with {@link
   * WatchOptions#withLogId} its log_id. Each page is bounded by {@link Reporter#CALL_TIMEOUT}
   * and tried up to the service config's maxAttempts times, again after a backoff when the
   * shared rules say so (UNAVAILABLE, a stream reset, a rate or count limit with its RetryInfo
   * floor).
   *
   * @throws ExecstreamException the server's refusal, decoded
   */
  public Snapshot snapshot(GetSnapshotRequest request) {
    Snapshot.Builder merged = null;
    GetSnapshotRequest.Builder next = request.toBuilder();
    while (true) {
      Snapshot page = snapshotPage(next.build());
      if (merged == null) {
        merged = page.toBuilder();
      } else {
        merged.addAllTasks(page.getTasksList());
      }
      if (page.getNextPageToken().isEmpty()) {
        return merged.setNextPageToken("").build();
      }
      next.setPageToken(page.getNextPageToken());
    }
  }

  /** One page, retried as the shared rules say. */
  private Snapshot snapshotPage(GetSnapshotRequest request) {
    ServiceConfig.RetryPolicy policy = ServiceConfig.retryPolicy("GetSnapshot");
    Attempts tries = new Attempts(policy, Duration.ofSeconds(-1));
    CountDownLatch never = new CountDownLatch(1);
    for (int tried = 1; ; tried++) {
      try {
        return blockingStub()
            .withDeadlineAfter(Reporter.CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
            .getSnapshot(request);
      } catch (StatusRuntimeException e) {
        ExecstreamException refusal = ExecstreamException.decode(e);
        Retrying.Decision verdict = Retrying.decide(policy, "GetSnapshot", refusal);
        if (verdict.action() != Retrying.Action.RETRY || tried >= policy.maxAttempts()) {
          throw refusal;
        }
        tries.await(refusal, verdict.atLeast() ? refusal.retryDelay() : Duration.ZERO, never);
      }
    }
  }

  /** Closes the connection, waiting up to 5 s for calls in flight. */
  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ChannelCredentials credentials(ConnectOptions options) {
    if (!options.tls()) {
      return InsecureChannelCredentials.create();
    }
    try {
      TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
      if (options.caFile() != null) {
        tls.trustManager(options.caFile().toFile());
      }
      if (options.certFile() != null) {
        tls.keyManager(options.certFile().toFile(), options.keyFile().toFile());
      }
      return tls.build();
    } catch (IOException e) {
      throw new UncheckedIOException("TLS files: " + e.getMessage(), e);
    }
  }

  /** Sends the token in the metadata key the server reads, on every call. */
  private static ClientInterceptor bearer(String token) {
    String value = "Bearer " + token;
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(
          MethodDescriptor<Q, R> method, CallOptions callOptions, Channel next) {
        return new ForwardingClientCall.SimpleForwardingClientCall<>(
            next.newCall(method, callOptions)) {
          @Override
          public void start(Listener<R> listener, Metadata headers) {
            headers.put(AUTHORIZATION, value);
            super.start(listener, headers);
          }
        };
      }
    };
  }
}
