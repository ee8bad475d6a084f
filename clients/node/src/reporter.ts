// Batching reporter: a sidecar's events reach the server in few messages, each exactly once.
//
// Each send is one short ReportProgress stream whose response means "committed", so what is
// pending is exactly what the server has not acknowledged. After a broken stream the reporter
// asks a snapshot for each task's last_seq, drops what was committed before the break and
// resends the rest; anything it still resends twice is acknowledged as a duplicate, not stored.
import { Attempts, type BackoffPolicy, sleep } from './backoff.js';
import {
  ExecstreamError, ReportRefused, isCallError, refusedOrUnreachable, statusOf, unreachable,
} from './errors.js';
import type { ExecutionEvent } from './gen/execstream/v1/events_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  ProgressReportSchema, ReportProgressResponse,
} from './gen/execstream/v1/service_pb.js';
import { decide } from './retrying.js';
import { type Stub, UNARY_TIMEOUT_MS, readSnapshot } from './snapshot.js';
import { TaskReporter } from './task.js';

export const DEFAULT_MAX_BATCH = 256;
// Well under 100 ms, so a viewer sees output as it happens, yet long enough for a burst of
// lines or tokens to share one message.
export const DEFAULT_FLUSH_INTERVAL_MS = 20;
// Messages per ReportProgress stream: bounds what one broken stream makes the reporter resend.
const MESSAGES_PER_STREAM = 4;

type ReportInit = MessageInitShape<typeof ProgressReportSchema>;

async function* messages(sidecarId: string, events: ExecutionEvent[], maxBatch: number):
  AsyncGenerator<ReportInit> {
  for (let start = 0; start < events.length; start += maxBatch) {
    yield { sidecarId, events: events.slice(start, start + maxBatch) };
  }
}

/** One ReportProgress stream carrying `events` in messages of `maxBatch`; rejects with the
 * call's error. */
export function reportOnce(stub: Stub, sidecarId: string, events: ExecutionEvent[],
  maxBatch = DEFAULT_MAX_BATCH): Promise<ReportProgressResponse> {
  return stub.reportProgress(messages(sidecarId, events, maxBatch),
    { timeoutMs: UNARY_TIMEOUT_MS });
}

export interface ReporterOptions {
  /** Events per message (256). */
  maxBatch?: number;
  /** How long an event may wait for company (20 ms). */
  flushIntervalMs?: number;
  /** Retry timing after a broken stream. */
  backoff?: BackoffPolicy;
}

/** What the server acknowledged so far. */
export interface ReporterTotals {
  eventsAccepted: bigint;
  duplicates: bigint;
  lastRevision: bigint;
}

export class Reporter {
  readonly sidecarId: string;
  readonly totals: ReporterTotals = { eventsAccepted: 0n, duplicates: 0n, lastRevision: 0n };
  private readonly stub: Stub;
  private readonly target: string;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly backoff: BackoffPolicy | undefined;
  /** Events queued and not yet acknowledged by the server, in order. */
  private pending: ExecutionEvent[] = [];
  private readonly tasks = new Map<string, TaskReporter>();
  private failure: Error | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private closed = false;

  constructor(conn: { stub: Stub; target: string }, sidecarId: string,
    options: ReporterOptions = {}) {
    if (!sidecarId) throw new Error('sidecarId must not be empty');
    this.stub = conn.stub;
    this.target = conn.target;
    this.sidecarId = sidecarId;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.backoff = options.backoff;
  }

  /** A reporter for one task, numbering from `nextSeq` (1n for a new task). */
  task(taskId: string, { nextSeq = 1n }: { nextSeq?: bigint } = {}): TaskReporter {
    const existing = this.tasks.get(taskId);
    if (existing) return existing;
    const task = new TaskReporter(taskId, (event) => this.enqueue(event), nextSeq);
    this.tasks.set(taskId, task);
    return task;
  }

  /** Continue a task this sidecar reported before (e.g. before a restart of the sidecar). */
  async resumeTask(taskId: string): Promise<TaskReporter> {
    if (this.tasks.has(taskId)) await this.flush();
    let last: Map<string, bigint>;
    try {
      last = await this.lastSeqs([taskId]);
    } catch (error) {
      throw refusedOrUnreachable(this.target, error);
    }
    this.tasks.delete(taskId);
    return this.task(taskId, { nextSeq: (last.get(taskId) ?? 0n) + 1n });
  }

  /** Each task's last committed seq, from a snapshot (absent: never reported). */
  async lastSeqs(taskIds: string[]): Promise<Map<string, bigint>> {
    const snapshot = await readSnapshot(this.stub, { taskIds });
    return new Map(snapshot.tasks.map((state) => [state.taskId, state.lastSeq]));
  }

  /** Events queued or in flight, not yet acknowledged. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Wait until every event queued so far is committed; throws the reporter's failure. */
  async flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.kick();
    while (this.sending) await this.sending;
    if (this.failure) throw this.failure;
  }

  /** Flush and stop; returns what the server acknowledged. Idempotent. */
  async close(): Promise<ReporterTotals> {
    try {
      await this.flush();
    } finally {
      this.closed = true;
    }
    return { ...this.totals };
  }

  private enqueue(event: ExecutionEvent): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new ExecstreamError('the reporter is closed: the event was not queued');
    this.pending.push(event);
    if (this.pending.length >= this.maxBatch) this.kick();
    else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.kick();
      }, this.flushIntervalMs);
    }
  }

  private kick(): void {
    if (this.sending || this.pending.length === 0 || this.failure) return;
    this.sending = this.drain().finally(() => { this.sending = null; });
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) await this.sendPending();
    } catch (error) {
      this.failure = error instanceof Error ? error : new ExecstreamError(String(error));
    }
  }

  private async sendPending(): Promise<void> {
    const attempts = new Attempts(this.backoff);
    for (;;) {
      const batch = this.pending.slice(0, this.maxBatch * MESSAGES_PER_STREAM);
      try {
        const response = await reportOnce(this.stub, this.sidecarId, batch, this.maxBatch);
        this.pending.splice(0, batch.length);
        this.totals.eventsAccepted += response.eventsAccepted;
        this.totals.duplicates += response.duplicates;
        if (response.lastRevision > this.totals.lastRevision) {
          this.totals.lastRevision = response.lastRevision;
        }
        return;
      } catch (error) {
        const delay = this.retryDelayMs(attempts, error);
        if (delay === null) throw unreachable(this.target, error);
        await sleep(delay);
        await this.dropCommitted(isCallError(error) ? statusOf(error).committed : null);
      }
    }
  }

  /** The wait before resending; throws when resending cannot help. The shared rules decide,
   * with one addition: this call's own deadline passing is a lost answer, not the caller's
   * deadline, and resending is safe (the server skips the seqs it has). */
  private retryDelayMs(attempts: Attempts, error: unknown): number | null {
    if (!isCallError(error)) throw error;
    const status = statusOf(error);
    if (status.code === 'DEADLINE_EXCEEDED') return attempts.nextDelayMs();
    const decision = decide('ReportProgress', status);
    if (decision.action !== 'retry') throw new ReportRefused(status);
    return attempts.nextDelayMs(decision.waitMs);
  }

  /** After a broken stream: forget pending events the server committed before it broke. A
   * refusal says what is committed per task (`told`); a stream that broke without a word is
   * asked a snapshot instead. */
  private async dropCommitted(told: ReportProgressResponse | null): Promise<void> {
    const taskIds = [...new Set(this.pending.map((event) => event.taskId))];
    const toldSeqs = new Map((told?.tasks ?? []).map((ack) => [ack.taskId, ack.lastSeq]));
    let last: Map<string, bigint>;
    try {
      last = taskIds.every((id) => toldSeqs.has(id)) ? toldSeqs : await this.lastSeqs(taskIds);
    } catch (error) {
      if (!isCallError(error)) throw error;
      return; // still down: the resend's dedupe covers it
    }
    const kept = this.pending.filter((event) => event.seq > (last.get(event.taskId) ?? 0n));
    this.totals.eventsAccepted += BigInt(this.pending.length - kept.length); // by the broken stream
    this.pending = kept;
  }
}
