package io.execstream.client;

import io.execstream.v1.ErrorReason;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.ExecutionServiceGrpc;
import io.execstream.v1.Progress;
import io.execstream.v1.WatchExecutionRequest;
import io.execstream.v1.WatchExecutionResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.OptionalLong;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;

/**
 * Delivers the events of a WatchExecution in revision order, each exactly once, across
 * dropped connections and server restarts.
 *
 * <p>Its cursor is the highest revision received: from an event, or from a Progress (which
 * says everything matching the watch up to its revision was sent; the first Progress of a
 * stream names the exact revision the stream starts after). On a drop it reopens with
 * after_revision = cursor, so nothing is skipped and nothing repeats. It reconnects by the
 * codes and backoff of the shared service config and the reason rules of {@link Retrying}
 * (at once after WATCHER_TOO_SLOW), and throws {@link ResyncRequiredException} when it cannot
 * resume (OUT_OF_RANGE, or a new log_id, or another log than {@link WatchOptions#logId}).
 *
 * <p>Call {@link #next} from one thread; {@link #close} may be called from any.
 */
public final class Watch implements AutoCloseable {
  private final ExecutionServiceGrpc.ExecutionServiceBlockingStub stub;
  private final WatchOptions options;
  private final Attempts attempts;
  private final CountDownLatch closed = new CountDownLatch(1);
  private final ArrayDeque<ExecutionEvent> queue = new ArrayDeque<>();

  private volatile Context.CancellableContext streamContext;
  private Iterator<WatchExecutionResponse> stream;
  private boolean streamOpened;
  private boolean caughtUp;
  private long revision;
  private boolean hasRevision;
  private String logId;
  private int reconnects;

  Watch(ExecutionServiceGrpc.ExecutionServiceBlockingStub stub, WatchOptions options) {
    this.stub = stub;
    this.options = options;
    this.attempts = new Attempts(ServiceConfig.retryPolicy("WatchExecution"), options.giveUpAfter());
    this.logId = options.logId();
    if (options.afterRevision().isPresent()) {
      revision = options.afterRevision().getAsLong();
      hasRevision = true;
    }
  }

  /**
   * Opens the stream, unless it is open, and waits for its first Progress, which names the
   * revision the watch starts after (for a live watch: "now"); returns that revision. {@link
   * #next} does the same by itself; call this when the start point must be known before going
   * on. Events that arrive meanwhile are kept for next.
   */
  public long start() {
    while (!streamOpened) {
      receive();
    }
    return revision;
  }

  /**
   * The next event, blocking until there is one.
   *
   * @throws ResyncRequiredException re-list with GetSnapshot and watch from its revision
   * @throws ExecstreamException a refusal that reconnecting cannot cure
   * @throws ExecstreamGaveUpException the server stayed unreachable past the budget
   * @throws CancellationException the watch was closed
   */
  public ExecutionEvent next() {
    while (queue.isEmpty()) {
      receive();
    }
    return queue.poll();
  }

  /** The cursor: the revision the watch would resume after; empty while a live watch has not heard where it starts. */
  public OptionalLong revision() {
    return hasRevision ? OptionalLong.of(revision) : OptionalLong.empty();
  }

  /** The identity of the log being watched, from the first Progress ("" before it). */
  public String logId() {
    return logId;
  }

  /** Whether the current stream has replayed up to the live head. */
  public boolean caughtUp() {
    return caughtUp;
  }

  /** How many streams were reopened after a drop. */
  public int reconnects() {
    return reconnects;
  }

  /** Ends the watch; a blocked or later {@link #next} throws CancellationException. */
  @Override
  public void close() {
    closed.countDown();
    Context.CancellableContext context = streamContext;
    if (context != null) {
      context.cancel(null);
    }
  }

  private void receive() {
    if (closed.getCount() == 0) {
      throw new CancellationException("the watch was closed");
    }
    WatchExecutionResponse response;
    try {
      if (stream == null) {
        open();
      }
      if (!stream.hasNext()) { // the server ended the stream (it is draining): reconnect
        dropStream();
        reconnects++;
        attempts.await(new StreamEnded(), Duration.ZERO, closed);
        return;
      }
      response = stream.next();
    } catch (StatusRuntimeException e) {
      dropStream();
      failed(e);
      return;
    }
    attempts.reset();
    accept(response);
  }

  /** The server ended a stream without an error; the watch reconnects. */
  private static final class StreamEnded extends RuntimeException {
    private static final long serialVersionUID = 1L;

    StreamEnded() {
      super("the server ended the watch");
    }
  }

  private void open() {
    WatchExecutionRequest.Builder request =
        WatchExecutionRequest.newBuilder()
            .addAllTaskIds(options.taskIds())
            .addAllSidecarIds(options.sidecarIds())
            .addAllKinds(options.kinds());
    if (hasRevision) {
      request.setAfterRevision(revision);
    }
    Context.CancellableContext context = Context.current().withCancellation();
    streamContext = context;
    if (closed.getCount() == 0) {
      context.cancel(null);
    }
    Context previous = context.attach();
    try {
      stream = stub.watchExecution(request.build());
    } finally {
      context.detach(previous);
    }
    streamOpened = false;
    caughtUp = false;
  }

  private void dropStream() {
    Context.CancellableContext context = streamContext;
    if (context != null) {
      context.cancel(null);
    }
    stream = null;
  }

  /** What a broken stream means: return to reconnect, or throw. */
  void failed(StatusRuntimeException error) {
    if (closed.getCount() == 0) { // closed by the caller: not the server's doing
      throw new CancellationException("the watch was closed");
    }
    ExecstreamException decoded = ExecstreamException.decode(error);
    Retrying.Decision verdict = Retrying.decide(attempts.policy(), "WatchExecution", decoded);
    switch (verdict.action()) {
      case RELIST -> throw new ResyncRequiredException(revision, logId, decoded);
      case RESUME -> {
        if (!hasRevision) {
          // The cursor is exact: what this watch received and what a Progress promised.
          // resume_revision, the last revision the server wrote to the stream, can be past it
          // by what was in flight when the stream was cut: it only serves a watch that has no
          // cursor yet.
          revision = verdict.resumeRevision().getAsLong();
          hasRevision = true;
        }
        reconnects++;
      }
      case RETRY -> {
        reconnects++;
        attempts.await(decoded, verdict.atLeast() ? decoded.retryDelay() : Duration.ZERO, closed);
      }
      default -> throw decoded;
    }
  }

  void accept(WatchExecutionResponse response) {
    for (ExecutionEvent event : response.getEventsList()) {
      if (hasRevision && Long.compareUnsigned(event.getRevision(), revision) <= 0) {
        continue; // already delivered before a reconnect
      }
      queue.add(event);
      revision = event.getRevision();
      hasRevision = true;
    }
    if (!response.hasProgress()) {
      return;
    }
    Progress progress = response.getProgress();
    if (!streamOpened) {
      streamOpened = true;
      if (!logId.isEmpty() && !progress.getLogId().isEmpty() && !progress.getLogId().equals(logId)) {
        dropStream();
        throw new ResyncRequiredException(revision, logId, progress.getLogId());
      }
      if (!progress.getLogId().isEmpty()) {
        logId = progress.getLogId();
      }
    }
    if (!hasRevision || Long.compareUnsigned(progress.getRevision(), revision) > 0) {
      revision = progress.getRevision();
      hasRevision = true;
    }
    if (progress.getCaughtUp()) {
      caughtUp = true;
    }
    if (options.onProgress() != null) {
      options.onProgress().accept(progress);
    }
  }
}
