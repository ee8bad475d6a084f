// Resumable watching: reconnect after a drop and continue exactly after the last revision.
//
// The cursor is the highest revision delivered to the caller, or announced by a Progress
// (everything matching the watch up to it was sent). Every watch opens with a Progress naming
// the revision it starts after, so even a live watch ("from now") has an exact start point
// before any event: resuming with after_revision = cursor neither repeats nor skips one. A
// server that does not open with a Progress (an older one) is remembered per client, and later
// live watches pin "now" with a snapshot before opening instead.
//
// The Progress also names the log (log_id). A watch that sees it change, or whose resume point
// the server refuses (OUT_OF_RANGE: compacted, or beyond the head), cannot resume: it throws
// ResyncRequired, or re-lists through onRelist.
import { Attempts, type BackoffPolicy, sleep } from './backoff.js';
import {
  LOG_ID_CHANGED, ResyncRequired, ServerRefused, isCallError, statusOf, unreachable,
} from './errors.js';
import type { EventKind, ExecutionEvent } from './gen/execstream/v1/events_pb.js';
import type { Snapshot, WatchExecutionResponse } from './gen/execstream/v1/service_pb.js';
import { decide } from './retrying.js';
import { type Stub, readSnapshot, withRetries } from './snapshot.js';

export interface WatchQuery {
  /** Only these tasks. */
  taskIds?: string[];
  /** Only tasks of these sidecars. */
  sidecarIds?: string[];
  /** Only these kinds, e.g. [EventKind.STDOUT]. */
  kinds?: EventKind[];
  /** Replay every retained event after it, then go live (0n: from the beginning); unset: live
   * from now. */
  afterRevision?: bigint;
  /** The log the afterRevision belongs to (a snapshot's logId): a replaced store is noticed. */
  logId?: string;
  /** When the watch cannot resume, called with a fresh snapshot; the watch then continues from
   * its revision. Without it, ResyncRequired is thrown. */
  onRelist?: (snapshot: Snapshot) => void | Promise<void>;
  /** Reconnect timing. */
  backoff?: BackoffPolicy;
  /** Ends the iteration quietly when aborted. */
  signal?: AbortSignal;
}

/** What a client learned about its server: does a watch open with a Progress? */
export class ServerTraits {
  opensWithProgress: boolean | undefined = undefined;
}

interface Connection {
  readonly stub: Stub;
  readonly target: string;
  readonly traits: ServerTraits;
}

/** An async iterable of ExecutionEvents that survives server restarts. Iterate it once. */
export class Watch implements AsyncIterable<ExecutionEvent> {
  /** Everything up to this revision was delivered (undefined: a live watch not yet open). */
  revision: bigint | undefined;
  /** The log this watch is on ("" until a Progress or snapshot names it). */
  logId: string;
  /** The replay (if any) is complete and the stream is live. */
  caughtUp = false;
  private readonly conn: Connection;
  private readonly query: WatchQuery;
  private readonly controller = new AbortController();
  private needsRelist = false;
  /** After a re-list: each listed task's lastRevision above the snapshot's revision (a later
   * page was read later); its events up to there are in the snapshot. */
  private listedThrough = new Map<string, bigint>();
  private listedUntil = 0n;
  private freshStream = false;
  private readonly started: Promise<void>;
  private markStarted: () => void = () => {};

  constructor(conn: Connection, query: WatchQuery = {}) {
    this.conn = conn;
    this.query = query;
    this.revision = query.afterRevision;
    this.logId = query.logId ?? '';
    this.started = new Promise((resolve) => { this.markStarted = resolve; });
    if (this.revision !== undefined) this.markStarted();
    query.signal?.addEventListener('abort', () => this.cancel(), { once: true });
  }

  /** Resolves once the watch knows its start point (while something iterates it). */
  waitStarted(): Promise<void> {
    return this.started;
  }

  /** Stop watching: the iteration ends at its next step. */
  cancel(): void {
    this.controller.abort();
  }

  private get cancelled(): boolean {
    return this.controller.signal.aborted;
  }

  private request() {
    this.freshStream = true;
    const { taskIds = [], sidecarIds = [], kinds = [] } = this.query;
    return { taskIds, sidecarIds, kinds, afterRevision: this.revision };
  }

  /** The response's events the caller has not seen; advances the cursor. */
  private accept(response: WatchExecutionResponse): ExecutionEvent[] {
    const { progress } = response;
    if (this.freshStream) {
      this.freshStream = false;
      this.conn.traits.opensWithProgress = progress !== undefined;
    }
    if (progress !== undefined) {
      this.checkLog(progress.logId);
      this.caughtUp ||= progress.caughtUp;
    }
    const fresh = this.fresh(response.events);
    if (progress !== undefined && (this.revision === undefined || progress.revision > this.revision)) {
      this.revision = progress.revision;
    }
    if (this.revision !== undefined) this.markStarted();
    return fresh;
  }

  /** The events past the cursor, less those a re-listed snapshot holds; advances the cursor. */
  private fresh(events: ExecutionEvent[]): ExecutionEvent[] {
    const fresh: ExecutionEvent[] = [];
    for (const event of events) {
      if (this.revision !== undefined && event.revision <= this.revision) continue; // delivered
      this.revision = event.revision;
      if (event.revision <= (this.listedThrough.get(event.taskId) ?? 0n)) continue; // listed
      fresh.push(event);
    }
    if (this.listedThrough.size > 0 && (this.revision ?? 0n) >= this.listedUntil) {
      this.listedThrough = new Map();
    }
    return fresh;
  }

  private checkLog(logId: string): void {
    if (!logId) return;
    if (this.logId && logId !== this.logId) {
      throw new ResyncRequired(this.revision ?? 0n, LOG_ID_CHANGED,
        `the server's log is now ${logId}, not ${this.logId}`);
    }
    this.logId = logId;
  }

  /** Continue from a fresh snapshot (all its pages), which onRelist is given. The watch resumes
   * after the snapshot's revision, its first page's; a later page may have been read at a
   * later revision, so for each listed task the events at or below its lastRevision (in the
   * snapshot already) are skipped. */
  private async relist(onRelist: NonNullable<WatchQuery['onRelist']>): Promise<void> {
    const snapshot = await readSnapshot(this.conn.stub, { taskIds: this.query.taskIds ?? [] });
    await onRelist(snapshot);
    this.revision = snapshot.revision;
    this.logId = snapshot.logId;
    this.listedThrough = new Map(snapshot.tasks
      .filter((task) => task.lastRevision > snapshot.revision)
      .map((task) => [task.taskId, task.lastRevision]));
    this.listedUntil = [...this.listedThrough.values()].reduce((a, b) => (a > b ? a : b), 0n);
    this.needsRelist = false;
    this.markStarted();
  }

  private async pin(): Promise<void> {
    const now = await withRetries(() => this.conn.stub.getSnapshot({ pageSize: 1 },
      { signal: this.controller.signal }));
    this.revision = now.revision;
    this.logId ||= now.logId;
    this.markStarted();
  }

  private relistOrThrow(error: ResyncRequired): void {
    if (this.query.onRelist === undefined) throw error;
    this.needsRelist = true;
  }

  /** Classify a failure: the least wait before reconnecting, null to reconnect at once. */
  private failed(error: unknown): number | null {
    if (error instanceof ResyncRequired) {
      this.relistOrThrow(error);
      return null;
    }
    if (!isCallError(error)) throw error;
    const status = statusOf(error);
    const decision = decide('WatchExecution', status);
    switch (decision.action) {
      case 'retry':
        return decision.waitMs;
      case 'resume':
        // The cursor is exact: what this watch received and what a Progress promised.
        // resume_revision, the last revision the server wrote to the stream, can be past it by
        // what was in flight when the stream was cut: it only serves a watch with no cursor.
        this.revision ??= decision.resumeRevision;
        return null;
      case 'relist':
        this.relistOrThrow(
          new ResyncRequired(this.revision ?? 0n, status.reason, status.message, status));
        return null;
      case 'stop':
        throw new ServerRefused(status);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ExecutionEvent> {
    const attempts = new Attempts(this.query.backoff);
    const { signal } = this.controller;
    try {
      while (!this.cancelled) {
        let failure: unknown = null;
        let waitMs: number | null = 0;
        try {
          if (this.needsRelist && this.query.onRelist) await this.relist(this.query.onRelist);
          if (this.revision === undefined && this.conn.traits.opensWithProgress === false) {
            await this.pin();
          }
          for await (const response of this.conn.stub.watchExecution(this.request(), { signal })) {
            attempts.reset();
            yield* this.accept(response);
          }
        } catch (error) {
          if (this.cancelled) return;
          failure = error;
          waitMs = this.failed(error);
        }
        if (waitMs === null) continue; // re-list, or resume a watcher cut for being slow
        const delay = attempts.nextDelayMs(waitMs);
        if (delay === null) {
          throw failure ? unreachable(this.conn.target, failure)
            : unreachable(this.conn.target, 'the server keeps ending the stream');
        }
        await sleep(delay, signal);
      }
    } finally {
      this.cancel();
    }
  }
}
