// One task's side of a reporter: numbering its events and building them from plain values.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import {
  type ExecutionEvent, ExecutionEventSchema, Outcome, TaskStatus, type Usage, UsageSchema,
} from './gen/execstream/v1/events_pb.js';

/** The body of an event, as protobuf-es builds a oneof: `{ case: 'stdout', value: { text } }`. */
export type EventBody = MessageInitShape<typeof ExecutionEventSchema>['body'];

/** Token counts; the buckets never overlap (see Usage in events.proto). Numbers or bigints. */
export interface UsageCounts {
  model?: string;
  backend?: string;
  /** Uncached input only. */
  inputTokens?: number | bigint;
  cacheReadTokens?: number | bigint;
  /** Prompt-cache writes with the 5-minute lifetime. */
  cacheWriteTokens?: number | bigint;
  /** Prompt-cache writes with the 1-hour lifetime (priced apart). */
  cacheWriteOneHourTokens?: number | bigint;
  /** Reasoning included. */
  outputTokens?: number | bigint;
  reasoningTokens?: number | bigint;
  estimated?: boolean;
}

const COUNTS = ['inputTokens', 'cacheReadTokens', 'cacheWriteTokens', 'cacheWriteOneHourTokens',
  'outputTokens', 'reasoningTokens'] as const;

/** A Usage message from plain counts. */
export function usage(counts: UsageCounts): Usage {
  const message = create(UsageSchema, {
    model: counts.model ?? '', backend: counts.backend ?? '', estimated: counts.estimated ?? false,
  });
  for (const key of COUNTS) message[key] = BigInt(counts[key] ?? 0);
  return message;
}

export type Enqueue = (event: ExecutionEvent) => void;

/** Report one task's progress; every call queues one event with the next seq and returns it.
 * Calls return at once: the reporter batches and sends in the background, and its `flush()`
 * (or `close()`) waits until the server has committed them. */
export class TaskReporter {
  readonly taskId: string;
  /** The attempt stamped on the next events; a RETRYING status starts the next one. */
  attempt = 1;
  private nextSeq: bigint;
  private readonly enqueue: Enqueue;

  /** @param nextSeq 1n for a new task; last_seq + 1 to continue one. */
  constructor(taskId: string, enqueue: Enqueue, nextSeq = 1n) {
    if (!taskId) throw new Error('taskId must not be empty');
    if (nextSeq < 1n) throw new Error(`nextSeq must be at least 1, not ${nextSeq}`);
    this.taskId = taskId;
    this.enqueue = enqueue;
    this.nextSeq = nextSeq;
  }

  /** The seq of the last event queued (0n before the first). */
  get lastSeq(): bigint {
    return this.nextSeq - 1n;
  }

  /** Queue one event with `body`, e.g. `{ case: 'stdout', value: { text } }`. */
  emit(body: EventBody): ExecutionEvent {
    return this.raw(create(ExecutionEventSchema, { time: timestampNow(), attempt: this.attempt,
      body }));
  }

  /** Queue an event built elsewhere, numbered with the next seq (a seq it carries must be that
   * one: the reporter keeps each task gap-free); its own time and attempt are kept. */
  raw(event: ExecutionEvent): ExecutionEvent {
    if (event.seq !== 0n && event.seq !== this.nextSeq) {
      throw new Error(`seq: is ${event.seq} for task ${this.taskId}; the next seq is ${this.nextSeq}`);
    }
    event.taskId = this.taskId;
    event.seq = this.nextSeq;
    event.time ??= timestampNow();
    this.enqueue(event);
    this.nextSeq += 1n;
    return event;
  }

  /** The first event of a task: where it runs and what it is. */
  started({ backend = 'shell', model = '', description = '', labels = {} }:
    { backend?: string; model?: string; description?: string; labels?: Record<string, string> }
    = {}): ExecutionEvent {
    return this.emit({ case: 'started', value: { backend, model, description, labels } });
  }

  token(text: string): ExecutionEvent {
    return this.emit({ case: 'token', value: { text } });
  }

  stdout(text: string): ExecutionEvent {
    return this.emit({ case: 'stdout', value: { text } });
  }

  stderr(text: string): ExecutionEvent {
    return this.emit({ case: 'stderr', value: { text } });
  }

  /** A lifecycle change; RETRYING starts a new attempt for the events after it. `usage` is what
   * the failed attempt billed, so it is priced even though it is retried. */
  status(status: TaskStatus, { message = '', usage: counts }:
    { message?: string; usage?: UsageCounts } = {}): ExecutionEvent {
    const event = this.emit({ case: 'status',
      value: { status, message, ...(counts ? { usage: usage(counts) } : {}) } });
    if (status === TaskStatus.RETRYING) this.attempt += 1;
    return event;
  }

  error(message: string, { code = '', retryable = false, usage: counts }:
    { code?: string; retryable?: boolean; usage?: UsageCounts } = {}): ExecutionEvent {
    return this.emit({ case: 'error', value: { message, code, retryable, attempt: this.attempt,
      ...(counts ? { usage: usage(counts) } : {}) } });
  }

  toolCall(toolName: string, { argumentsSummary = '', resultSummary = '', ok = true, error = '',
    iteration = 0 }: { argumentsSummary?: string; resultSummary?: string; ok?: boolean;
    error?: string; iteration?: number } = {}): ExecutionEvent {
    return this.emit({ case: 'toolCall',
      value: { toolName, argumentsSummary, resultSummary, ok, error, iteration } });
  }

  /** The terminal event: the server refuses anything after it for this task. */
  finished(outcome: Outcome = Outcome.SUCCEEDED, { usage: counts, exitCode, error = '' }:
    { usage?: UsageCounts; exitCode?: number; error?: string } = {}): ExecutionEvent {
    return this.emit({ case: 'finished', value: { outcome, error,
      ...(counts ? { usage: usage(counts) } : {}),
      ...(exitCode !== undefined ? { exitCode } : {}) } });
  }
}
