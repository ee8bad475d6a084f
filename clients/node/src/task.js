// One task's side of a reporter: numbering its events and building them from plain values.

/**
 * @typedef {object} Usage token counts; the buckets never overlap (see events.proto)
 * @property {string} [model]
 * @property {string} [backend]
 * @property {number} [inputTokens] uncached input only
 * @property {number} [cacheReadTokens]
 * @property {number} [cacheWriteTokens]
 * @property {number} [cacheWriteOneHourTokens]
 * @property {number} [outputTokens] reasoning included
 * @property {number} [reasoningTokens]
 * @property {boolean} [estimated]
 */

/** A google.protobuf.Timestamp for now, on this machine's clock. */
function now() {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** Report one task's progress; every call queues one event with the next seq and returns it.
 * Calls return at once: the reporter batches and sends in the background, and its `flush()`
 * (or `close()`) waits until the server has committed them. */
export class TaskReporter {
  /**
   * @param {string} taskId
   * @param {(event: object) => void} enqueue
   * @param {number} nextSeq 1 for a new task; last_seq + 1 to continue one
   */
  constructor(taskId, enqueue, nextSeq = 1) {
    if (!taskId) throw new Error('taskId must not be empty');
    if (!Number.isInteger(nextSeq) || nextSeq < 1) {
      throw new Error(`nextSeq must be an integer of at least 1, not ${nextSeq}`);
    }
    this.taskId = taskId;
    this.enqueue = enqueue;
    this.nextSeq = nextSeq;
    /** The attempt stamped on the next events; a RETRYING status starts the next one. */
    this.attempt = 1;
  }

  /** The seq of the last event queued (0 before the first). */
  get lastSeq() {
    return this.nextSeq - 1;
  }

  /** Queue one event with `body`, e.g. `{ stdout: { text } }`. */
  emit(body) {
    const event = { taskId: this.taskId, seq: this.nextSeq, time: now(), attempt: this.attempt,
      ...body };
    this.enqueue(event);
    this.nextSeq += 1;
    return event;
  }

  /** The first event of a task: where it runs and what it is. */
  started({ backend = 'shell', model = '', description = '', labels = {} } = {}) {
    return this.emit({ started: { backend, model, description, labels } });
  }

  token(text) {
    return this.emit({ token: { text } });
  }

  stdout(text) {
    return this.emit({ stdout: { text } });
  }

  stderr(text) {
    return this.emit({ stderr: { text } });
  }

  /** A lifecycle change; RETRYING starts a new attempt for the events after it. `usage` is
   * what the failed attempt billed, so it is priced even though it is retried.
   * @param {string} status e.g. 'TASK_STATUS_RUNNING' @param {{message?: string, usage?: Usage}} [more] */
  status(status, { message = '', usage } = {}) {
    const event = this.emit({ status: { status, message, usage } });
    if (status === 'TASK_STATUS_RETRYING') this.attempt += 1;
    return event;
  }

  error(message, { code = '', retryable = false, usage } = {}) {
    return this.emit({ error: { message, code, retryable, attempt: this.attempt, usage } });
  }

  toolCall(toolName, { argumentsSummary = '', resultSummary = '', ok = true, error = '',
    iteration = 0 } = {}) {
    return this.emit({ toolCall: { toolName, argumentsSummary, resultSummary, ok, error,
      iteration } });
  }

  /** The terminal event: the server refuses anything after it for this task.
   * @param {string} [outcome] 'OUTCOME_SUCCEEDED', 'OUTCOME_FAILED' or 'OUTCOME_CANCELLED'
   * @param {{usage?: Usage, exitCode?: number, error?: string}} [more] */
  finished(outcome = 'OUTCOME_SUCCEEDED', { usage, exitCode, error = '' } = {}) {
    const finished = { outcome, usage, error };
    if (exitCode !== undefined) finished.exitCode = exitCode;
    return this.emit({ finished });
  }
}
