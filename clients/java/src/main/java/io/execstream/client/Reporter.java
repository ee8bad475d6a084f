package io.execstream.client;

import com.google.protobuf.util.Timestamps;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.ExecutionServiceGrpc;
import io.execstream.v1.GetSnapshotRequest;
import io.execstream.v1.ProgressReport;
import io.execstream.v1.ReportProgressResponse;
import io.execstream.v1.TaskAck;
import io.execstream.v1.TaskState;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A sidecar's side of ReportProgress. Each {@link Task} numbers its events (seq from 1, or on
 * from where the server stands for {@link #resumeTask}); events wait in memory until {@link
 * #flush} sends them in batches over one stream and returns once the server has committed
 * them. When a stream breaks with a retryable code (or a rate limit), flush drops what the
 * server already has and resends the rest, so every event is stored exactly once: the refusal
 * says what is committed per task, and a stream that broke without a word is asked
 * GetSnapshot for each pending task's last_seq. If the snapshot is refused (a token that may not read it), it resends
 * everything pending: the server acknowledges the repeats as duplicates without storing them
 * again.
 *
 * <p>Thread-safe.
 */
public final class Reporter {
  /** Events per ProgressReport message. */
  public static final int DEFAULT_MAX_BATCH = 1000;

  /** How long consecutive failures may last before flush gives up. */
  public static final Duration DEFAULT_GIVE_UP_AFTER = Duration.ofSeconds(60);

  /**
   * Bounds one ReportProgress call and one GetSnapshot page, so that a call whose answer is
   * lost does not hang; the reporter then resends, which is safe.
   */
  public static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

  private final ExecstreamClient client;
  private final String sidecarId;
  private final int maxBatch;
  private final Duration giveUpAfter;
  private final ServiceConfig.RetryPolicy policy = ServiceConfig.retryPolicy("ReportProgress");
  private final Object flushing = new Object(); // one flush at a time: batches in seq order
  private final List<ExecutionEvent> pending = new ArrayList<>();
  private final Map<String, Long> nextSeq = new HashMap<>();

  Reporter(ExecstreamClient client, String sidecarId, int maxBatch, Duration giveUpAfter) {
    this.client = client;
    this.sidecarId = sidecarId;
    this.maxBatch = maxBatch;
    this.giveUpAfter = giveUpAfter;
  }

  /** The same reporter with another reconnect budget (negative: never give up). */
  public Reporter withGiveUpAfter(Duration budget) {
    return new Reporter(client, sidecarId, maxBatch, budget);
  }

  /** The same reporter settings with another batch size (events per message). */
  public Reporter withMaxBatch(int events) {
    return new Reporter(client, sidecarId, events, giveUpAfter);
  }

  /** The handle of a task, numbering its events from seq 1 (or on, if already known). */
  public synchronized Task task(String taskId) {
    nextSeq.putIfAbsent(taskId, 1L);
    return new Task(this, taskId);
  }

  /**
   * The handle of a task an earlier process reported, numbering on from its last_seq.
   *
   * @throws ExecstreamException the snapshot was refused
   */
  public Task resumeTask(String taskId) {
    long lastSeq = lastSeqs(List.of(taskId)).get(taskId);
    synchronized (this) {
      nextSeq.merge(taskId, lastSeq + 1, Math::max);
    }
    return new Task(this, taskId);
  }

  /** How many events are not yet committed. */
  public synchronized int pending() {
    return pending.size();
  }

  /** Numbers {@code event} for its task and queues it; returns the seq. */
  synchronized long enqueue(String taskId, ExecutionEvent.Builder event) {
    long seq = nextSeq.merge(taskId, 1L, Long::sum) - 1;
    event.setTaskId(taskId).setSeq(seq);
    if (!event.hasTime()) { // a resend must be identical, or it would be a SEQ_CONFLICT
      event.setTime(Timestamps.now());
    }
    pending.add(event.build());
    return seq;
  }

  /**
   * Sends every pending event and returns when the server has committed them all.
   *
   * @throws ExecstreamException a refusal that resending cannot cure (SEQ_GAP, SEQ_CONFLICT,
   *     TASK_FINISHED, INVALID_FIELD, ...): the refused message and what follows stay pending
   * @throws ExecstreamGaveUpException the server stayed unreachable past the budget
   */
  public void flush() {
    synchronized (flushing) {
      Attempts tries = new Attempts(policy, giveUpAfter);
      CountDownLatch never = new CountDownLatch(1);
      while (true) {
        List<ExecutionEvent> batch = pendingCopy();
        if (batch.isEmpty()) {
          return;
        }
        try {
          committed(call(client.stub(), sidecarId, batch, maxBatch).getTasksList());
          return;
        } catch (StatusRuntimeException e) {
          recover(tries, never, ExecstreamException.decode(e));
        }
      }
    }
  }

  /** Returns to resend what the server lacks, or throws. */
  private void recover(Attempts tries, CountDownLatch never, ExecstreamException refusal) {
    Retrying.Decision verdict = Retrying.decide(policy, "ReportProgress", refusal);
    if (refusal.code() == Status.Code.DEADLINE_EXCEEDED) { // this reporter's own bound: the answer is lost
      verdict = Retrying.Decision.of(Retrying.Action.RETRY);
    }
    if (verdict.action() != Retrying.Action.RETRY) {
      throw refusal;
    }
    tries.await(refusal, verdict.atLeast() ? refusal.retryDelay() : Duration.ZERO, never);
    // A refusal says what is committed for every task the stream touched; a stream that broke
    // without a word is asked a snapshot. When the snapshot cannot be read (the server is still
    // down, or the token may not read it), everything pending is resent: the server
    // acknowledges repeats as duplicates, and a send to a server still down fails and waits.
    List<String> tasks = pendingTasks();
    if (refusal.committed().isPresent() && covers(refusal.committed().get().getTasksList(), tasks)) {
      committed(refusal.committed().get().getTasksList());
      return;
    }
    try {
      Map<String, Long> lastSeq = lastSeqs(tasks);
      List<TaskAck> acks = new ArrayList<>();
      lastSeq.forEach((task, seq) -> acks.add(TaskAck.newBuilder().setTaskId(task).setLastSeq(seq).build()));
      committed(acks);
    } catch (ExecstreamException unreadable) {
      // resend everything pending
    }
  }

  private static boolean covers(List<TaskAck> acks, List<String> taskIds) {
    return acks.stream().map(TaskAck::getTaskId).toList().containsAll(taskIds);
  }

  /**
   * One ReportProgress call: {@code events} in messages of {@code maxBatch}, then the
   * server's answer once they are committed.
   */
  static ReportProgressResponse call(
      ExecutionServiceGrpc.ExecutionServiceStub stub,
      String sidecarId,
      List<ExecutionEvent> events,
      int maxBatch) {
    CompletableFuture<ReportProgressResponse> answer = new CompletableFuture<>();
    StreamObserver<ProgressReport> requests =
        stub.withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).reportProgress(
            new StreamObserver<>() {
              @Override
              public void onNext(ReportProgressResponse response) {
                answer.complete(response);
              }

              @Override
              public void onError(Throwable error) {
                answer.completeExceptionally(error);
              }

              @Override
              public void onCompleted() {
                answer.completeExceptionally(
                    new IllegalStateException("ReportProgress ended without a response"));
              }
            });
    for (int start = 0; start < events.size(); start += maxBatch) {
      List<ExecutionEvent> part = events.subList(start, Math.min(start + maxBatch, events.size()));
      requests.onNext(ProgressReport.newBuilder().setSidecarId(sidecarId).addAllEvents(part).build());
    }
    requests.onCompleted();
    try {
      return answer.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancellationException("interrupted");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof StatusRuntimeException status) {
        throw status;
      }
      throw new IllegalStateException(e.getCause());
    }
  }

  private synchronized List<ExecutionEvent> pendingCopy() {
    return List.copyOf(pending);
  }

  private synchronized List<String> pendingTasks() {
    LinkedHashSet<String> tasks = new LinkedHashSet<>();
    pending.forEach(event -> tasks.add(event.getTaskId()));
    return List.copyOf(tasks);
  }

  /** Drops the pending events at or below each task's committed seq. */
  private synchronized void committed(List<TaskAck> acks) {
    Map<String, Long> lastSeq = new HashMap<>();
    acks.forEach(ack -> lastSeq.put(ack.getTaskId(), ack.getLastSeq()));
    pending.removeIf(
        event -> {
          Long last = lastSeq.get(event.getTaskId());
          return last != null && Long.compareUnsigned(event.getSeq(), last) <= 0;
        });
  }

  /** Each task's last committed seq (0 for a task the server does not have). */
  private Map<String, Long> lastSeqs(List<String> taskIds) {
    Map<String, Long> lastSeq = new HashMap<>();
    taskIds.forEach(id -> lastSeq.put(id, 0L));
    GetSnapshotRequest request = GetSnapshotRequest.newBuilder().addAllTaskIds(taskIds).build();
    for (TaskState task : client.snapshot(request).getTasksList()) {
      lastSeq.put(task.getTaskId(), task.getLastSeq());
    }
    return lastSeq;
  }
}
