// Batching reporter: a sidecar's events reach the server in few messages, each exactly once.
//
// Each send is one short ReportProgress stream whose response means "committed", so what is
// pending is exactly what the server has not acknowledged. After a broken stream the reporter
// asks a snapshot for each task's last_seq, drops what was committed before the break and
// resends the rest; anything it still resends twice is acknowledged as a duplicate, not stored.
import { Attempts, sleep } from './backoff.js';
import {
  RETRYABLE, ReportRefused, isRpcError, refusedOrUnreachable, unreachable,
} from './errors.js';
import { UNARY_TIMEOUT_MS, readSnapshot } from './snapshot.js';
import { TaskReporter } from './task.js';

export const DEFAULT_MAX_BATCH = 256;
// Well under 100 ms, so a viewer sees output as it happens, yet long enough for a burst of
// lines or tokens to share one message.
export const DEFAULT_FLUSH_INTERVAL_MS = 20;
// Messages per ReportProgress stream: bounds what one broken stream makes the reporter resend.
const MESSAGES_PER_STREAM = 4;

/**
 * One ReportProgress stream carrying `events` in messages of `maxBatch`.
 * @param {{ stub: any, metadata: () => import('@grpc/grpc-js').Metadata }} conn
 * @param {string} sidecarId
 * @param {object[]} events
 * @param {number} [maxBatch]
 * @returns {Promise<any>} the ReportProgressResponse; rejects with the grpc-js error
 */
export function reportOnce(conn, sidecarId, events, maxBatch = DEFAULT_MAX_BATCH) {
  const deadline = new Date(Date.now() + UNARY_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    const call = conn.stub.ReportProgress(conn.metadata(), { deadline }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
    call.on('error', () => {}); // the callback above carries it
    for (let start = 0; start < events.length; start += maxBatch) {
      call.write({ sidecarId, events: events.slice(start, start + maxBatch) });
    }
    call.end();
  });
}

/**
 * @typedef {object} ReporterOptions
 * @property {number} [maxBatch] events per message (256)
 * @property {number} [flushIntervalMs] how long an event may wait for company (20)
 * @property {import('./backoff.js').BackoffPolicy} [backoff] retry timing after a broken stream
 */

export class Reporter {
  /**
   * @param {{ stub: any, metadata: () => import('@grpc/grpc-js').Metadata, target: string }} conn
   * @param {string} sidecarId
   * @param {ReporterOptions} [options]
   */
  constructor(conn, sidecarId, options = {}) {
    if (!sidecarId) throw new Error('sidecarId must not be empty');
    this.conn = conn;
    this.sidecarId = sidecarId;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.backoff = options.backoff;
    /** Events queued and not yet acknowledged by the server, in order. */
    this.pending = [];
    /** @type {Map<string, TaskReporter>} */
    this.tasks = new Map();
    /** What the server acknowledged so far. */
    this.totals = { eventsAccepted: 0, duplicates: 0, lastRevision: 0 };
    /** @type {Error | null} the first failure; the reporter refuses new events after it */
    this.failure = null;
    this.timer = null;
    this.sending = null;
    this.closed = false;
  }

  /** A reporter for one task, numbering from `nextSeq` (1 for a new task). */
  task(taskId, { nextSeq = 1 } = {}) {
    const existing = this.tasks.get(taskId);
    if (existing) return existing;
    const task = new TaskReporter(taskId, (event) => this.#enqueue(event), nextSeq);
    this.tasks.set(taskId, task);
    return task;
  }

  /** Continue a task this sidecar reported before (e.g. before a restart of the sidecar). */
  async resumeTask(taskId) {
    let last;
    try {
      last = await this.lastSeqs([taskId]);
    } catch (error) {
      throw refusedOrUnreachable(this.conn.target, error);
    }
    return this.task(taskId, { nextSeq: (last.get(taskId) ?? 0) + 1 });
  }

  /** Each task's last committed seq, from a snapshot (absent: never reported). */
  async lastSeqs(taskIds) {
    const snapshot = await readSnapshot(this.conn.stub, this.conn.metadata, { taskIds });
    return new Map(snapshot.tasks.map((state) => [state.taskId, state.lastSeq]));
  }

  /** Wait until every event queued so far is committed; throws the reporter's failure. */
  async flush() {
    clearTimeout(this.timer);
    this.timer = null;
    this.#kick();
    while (this.sending) await this.sending;
    if (this.failure) throw this.failure;
  }

  /** Flush and stop; returns what the server acknowledged. Idempotent. */
  async close() {
    try {
      await this.flush();
    } finally {
      this.closed = true;
    }
    return { ...this.totals };
  }

  #enqueue(event) {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('the reporter is closed');
    this.pending.push(event);
    if (this.pending.length >= this.maxBatch) this.#kick();
    else this.timer ??= setTimeout(() => { this.timer = null; this.#kick(); }, this.flushIntervalMs);
  }

  #kick() {
    if (this.sending || this.pending.length === 0 || this.failure) return;
    this.sending = this.#drain().finally(() => { this.sending = null; });
  }

  async #drain() {
    try {
      while (this.pending.length > 0) await this.#sendPending();
    } catch (error) {
      this.failure = error;
    }
  }

  async #sendPending() {
    const attempts = new Attempts(this.backoff);
    for (;;) {
      const batch = this.pending.slice(0, this.maxBatch * MESSAGES_PER_STREAM);
      try {
        const response = await reportOnce(this.conn, this.sidecarId, batch, this.maxBatch);
        this.pending.splice(0, batch.length);
        this.totals.eventsAccepted += response.eventsAccepted;
        this.totals.duplicates += response.duplicates;
        this.totals.lastRevision = Math.max(this.totals.lastRevision, response.lastRevision);
        return;
      } catch (error) {
        if (!isRpcError(error)) throw error;
        if (!RETRYABLE.has(error.code)) throw new ReportRefused(error.code, error.details);
        const delay = attempts.nextDelayMs();
        if (delay === null) throw unreachable(this.conn.target, error);
        await sleep(delay);
        await this.#dropCommitted();
      }
    }
  }

  /** After a broken stream: forget pending events the server committed before it broke. */
  async #dropCommitted() {
    const taskIds = [...new Set(this.pending.map((event) => event.taskId))];
    let last;
    try {
      last = await this.lastSeqs(taskIds);
    } catch (error) {
      if (!isRpcError(error)) throw error;
      return; // still down: the resend's dedupe covers it
    }
    const kept = this.pending.filter((event) => event.seq > (last.get(event.taskId) ?? 0));
    this.totals.eventsAccepted += this.pending.length - kept.length; // by the broken stream
    this.pending = kept;
  }
}
