/**
 * List-then-watch with resume: GetSnapshot, then WatchExecution after its revision, for
 * as long as the page is open.
 *
 * The cursor is the last revision received (event or progress). A dropped stream or a
 * restarted server is resumed after the cursor, so nothing is missed or repeated; the
 * delays come from the service config, and restart only once a watch delivers a message.
 * OUT_OF_RANGE (compacted or future revision) and a changed log_id (a replaced store)
 * mean revisions are no longer comparable: list again. UNAUTHENTICATED waits for a token;
 * PERMISSION_DENIED waits for another one.
 */

import type { ExecutionEvent } from "./gen/execstream/v1/events_pb";
import type { Snapshot } from "./gen/execstream/v1/service_pb";
import type { TaskState, Totals } from "./gen/execstream/v1/state_pb";
import { Backoff, sleep } from "./backoff";
import { Code, failureOf, isCancel, type CallFailure, type ExecutionClient } from "./rpc";

export type Connection =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "reconnecting"; attempt: number; retryInMs: number; reason: string }
  | { kind: "auth"; reason: string }
  | { kind: "denied"; reason: string };

export interface Listing {
  tasks: TaskState[];
  totals: Totals | undefined;
  revision: bigint;
  logId: string;
}

export interface SyncListener {
  /** A full list: replace what the page shows. `logChanged`: the log was replaced. */
  listed(listing: Listing, logChanged: boolean): void;
  events(events: ExecutionEvent[]): void;
  connection(state: Connection): void;
}

/**
 * Every page of a snapshot. Pages are of the server's default size (page_size 0), which
 * never exceeds its --max-page-size.
 */
export async function snapshotPages(
  client: ExecutionClient,
  request: { taskIds?: string[] },
  signal?: AbortSignal,
): Promise<Snapshot[]> {
  const pages: Snapshot[] = [];
  let pageToken = "";
  do {
    const page = await client.getSnapshot({ ...request, pageSize: 0, pageToken }, { signal });
    pages.push(page);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return pages;
}

export async function listAll(client: ExecutionClient, signal?: AbortSignal): Promise<Listing> {
  const pages = await snapshotPages(client, {}, signal);
  const first = pages[0]!;
  // Later pages may be newer; watching from the first page's revision is gap-free, and the
  // book skips events at or below each task's last_revision.
  return {
    tasks: pages.flatMap((page) => page.tasks),
    totals: first.totals,
    revision: first.revision,
    logId: first.logId,
  };
}

export class LiveSync {
  /** The last revision received; the watch resumes after it. */
  cursor = 0n;
  logId = "";
  private stopped = false;
  private abort = new AbortController();
  private wake = new AbortController();
  private readonly backoff = new Backoff();

  constructor(
    private readonly client: ExecutionClient,
    private readonly listener: SyncListener,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.wake.abort();
  }

  /** Retry at once (a new token, the network came back, the user asked). */
  retryNow(): void {
    this.backoff.reset();
    this.abort.abort();
    this.wake.abort();
  }

  private async run(): Promise<void> {
    let mustList = true;
    while (!this.stopped) {
      this.abort = new AbortController();
      this.wake = new AbortController();
      try {
        if (mustList) {
          this.listener.connection({ kind: "connecting" });
          const listing = await listAll(this.client, this.abort.signal);
          const logChanged = this.logId !== "" && listing.logId !== this.logId;
          this.cursor = listing.revision;
          this.logId = listing.logId;
          this.listener.listed(listing, logChanged);
          mustList = false;
        }
        const ended = await this.watch();
        mustList = ended === "relist";
        // A stream the server ended at once, without a message, is retried with backoff.
        if (ended === "quiet") await sleep(this.backoff.next(), this.wake.signal);
      } catch (error) {
        if (this.stopped) return;
        if (isCancel(error) && this.abort.signal.aborted) continue;
        mustList = await this.recover(failureOf(error), mustList);
      }
    }
  }

  /**
   * Watch after the cursor until the stream ends: relist, or resume (quiet: nothing came).
   *
   * Only a message means the server accepted the watch (a refusal may come with response
   * headers and no message): the backoff restarts at the first one, after the log's
   * identity was checked, and the page says "live" once the replay has caught up.
   */
  private async watch(): Promise<"relist" | "resume" | "quiet"> {
    const stream = this.client.watchExecution(
      { afterRevision: this.cursor },
      { signal: this.abort.signal },
    );
    let received = false;
    for await (const response of stream) {
      const progress = response.progress;
      if (progress?.logId) {
        if (this.logId && progress.logId !== this.logId) return "relist"; // a replaced store
        this.logId = progress.logId;
      }
      if (!received) {
        received = true;
        this.backoff.reset();
        if (!progress?.caughtUp) this.listener.connection({ kind: "connecting" });
      }
      const fresh = response.events.filter((event) => event.revision > this.cursor);
      if (fresh.length) {
        this.cursor = fresh[fresh.length - 1]!.revision;
        this.listener.events(fresh);
      }
      if (progress && progress.revision > this.cursor) this.cursor = progress.revision;
      if (progress?.caughtUp) this.listener.connection({ kind: "live" });
    }
    return received ? "resume" : "quiet"; // ended cleanly (the server let it go)
  }

  /** Decide what a failure means; true when a relist is needed. */
  private async recover(failure: CallFailure, mustList: boolean): Promise<boolean> {
    if (failure.code === Code.Unauthenticated) {
      this.listener.connection({ kind: "auth", reason: failure.message });
      await sleep(2 ** 31 - 1, this.wake.signal); // until retryNow (a token was given)
      return mustList;
    }
    if (failure.code === Code.PermissionDenied) {
      this.listener.connection({ kind: "denied", reason: failure.message });
      await sleep(2 ** 31 - 1, this.wake.signal);
      return mustList;
    }
    if (failure.reason === "WATCHER_TOO_SLOW") return mustList; // resume after the cursor
    if (failure.code === Code.OutOfRange) {
      // Compacted, or ahead of a replaced or lagging log: list again, at once the first
      // time; again and again without a message between, with the backoff.
      if (this.backoff.attempts > 0) await this.wait(failure);
      else this.backoff.next();
      return true;
    }
    await this.wait(failure);
    return mustList;
  }

  /** Show the reconnect and wait the backoff's next delay (or until retryNow). */
  private async wait(failure: CallFailure): Promise<void> {
    const retryInMs = this.backoff.next();
    this.listener.connection({
      kind: "reconnecting",
      attempt: this.backoff.attempts,
      retryInMs,
      reason: failure.message || Code[failure.code],
    });
    await sleep(retryInMs, this.wake.signal);
  }
}
