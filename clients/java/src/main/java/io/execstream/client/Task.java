package io.execstream.client;

import io.execstream.v1.ErrorReport;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.Finished;
import io.execstream.v1.OutputChunk;
import io.execstream.v1.Started;
import io.execstream.v1.StatusChange;
import io.execstream.v1.TokenChunk;
import io.execstream.v1.ToolCall;

/**
 * Numbers and queues the events of one task; {@link Reporter#flush} sends them. Each method
 * returns the event's seq.
 */
public final class Task {
  private final Reporter reporter;
  private final String id;

  Task(Reporter reporter, String id) {
    this.reporter = reporter;
    this.id = id;
  }

  /** The task's id. */
  public String id() {
    return id;
  }

  /** Queues {@code event} with this task's id and next seq (its time, when unset, is now). */
  public long send(ExecutionEvent.Builder event) {
    return reporter.enqueue(id, event);
  }

  /** The task began running on a backend (and model, for a model call). */
  public long started(Started started) {
    return send(ExecutionEvent.newBuilder().setStarted(started));
  }

  /** A chunk of model output. */
  public long token(String text) {
    return send(ExecutionEvent.newBuilder().setToken(TokenChunk.newBuilder().setText(text)));
  }

  /** A chunk of standard output. */
  public long stdout(String text) {
    return send(ExecutionEvent.newBuilder().setStdout(OutputChunk.newBuilder().setText(text)));
  }

  /** A chunk of standard error. */
  public long stderr(String text) {
    return send(ExecutionEvent.newBuilder().setStderr(OutputChunk.newBuilder().setText(text)));
  }

  /** A status change (RUNNING, or RETRYING with the failed attempt's usage). */
  public long status(StatusChange change) {
    return send(ExecutionEvent.newBuilder().setStatus(change));
  }

  /** An error that does not end the task by itself. */
  public long error(ErrorReport report) {
    return send(ExecutionEvent.newBuilder().setError(report));
  }

  /** A tool call of an agentic run. */
  public long toolCall(ToolCall call) {
    return send(ExecutionEvent.newBuilder().setToolCall(call));
  }

  /** How the task ended, with the usage the server prices. */
  public long finished(Finished finished) {
    return send(ExecutionEvent.newBuilder().setFinished(finished));
  }
}
