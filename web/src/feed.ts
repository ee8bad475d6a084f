/**
 * What feeds one open output panel: a replay of the task from a revision, then the page's
 * live stream.
 *
 * The replay is a WatchExecution for this one task, read until it has delivered what the
 * page already knew of the task when the panel opened (its last_revision), or until the
 * server marks it caught up; then it is closed, and the events the live stream delivered
 * meanwhile (held here) follow. The panel drops any revision it already has, so the seam
 * has no gap and no duplicate.
 */

import type { ExecutionEvent } from "./gen/execstream/v1/events_pb";
import { Backoff, sleep } from "./backoff";
import type { OutputPanel } from "./output";
import { Code, failureOf, isCancel, type ExecutionClient } from "./rpc";

export class TaskFeed {
  private replaying = false;
  private held: ExecutionEvent[] = [];
  private abort = new AbortController();
  private readonly backoff = new Backoff();

  constructor(
    private readonly client: ExecutionClient,
    readonly taskId: string,
    readonly panel: OutputPanel,
  ) {}

  /** Replay after `fromRevision` up to `knownRevision`, then go live. */
  replay(fromRevision: bigint, knownRevision: bigint): void {
    this.abort.abort();
    this.abort = new AbortController();
    if (knownRevision <= fromRevision) {
      this.goLive();
      return;
    }
    this.replaying = true;
    this.panel.setState("replaying…");
    void this.run(fromRevision, knownRevision, this.abort.signal);
  }

  /** An event of this task from the page's live stream. */
  live(events: ExecutionEvent[]): void {
    if (this.replaying) this.held.push(...events);
    else this.panel.push(events);
  }

  close(): void {
    this.abort.abort();
    this.replaying = false;
    this.held = [];
  }

  private goLive(): void {
    this.replaying = false;
    const held = this.held;
    this.held = [];
    this.panel.push(held);
    this.panel.setState("live");
  }

  private async run(after: bigint, target: bigint, signal: AbortSignal): Promise<void> {
    let from = after;
    while (!signal.aborted) {
      try {
        const stream = this.client.watchExecution(
          { taskIds: [this.taskId], afterRevision: from },
          { signal },
        );
        for await (const response of stream) {
          this.panel.push(response.events);
          from = this.panel.lastRevision > from ? this.panel.lastRevision : from;
          const progress = response.progress;
          const reached =
            this.panel.lastRevision >= target ||
            progress?.caughtUp === true ||
            (progress !== undefined && progress.revision >= target);
          if (reached) {
            this.abort.abort(); // ends this replay stream; the live stream takes over
            this.goLive();
            return;
          }
        }
      } catch (error) {
        if (signal.aborted || isCancel(error)) return;
        const failure = failureOf(error);
        if (failure.reason === "REVISION_COMPACTED") {
          const oldest = BigInt(failure.metadata["oldest_revision"] ?? "1");
          this.panel.note(`output before revision ${oldest} is no longer retained`);
          from = oldest > 0n ? oldest - 1n : 0n;
          continue;
        }
        if (failure.code === Code.OutOfRange) return; // the page relists and replays again
        this.panel.setState(`replay interrupted (${failure.message}); retrying…`);
        await sleep(this.backoff.next(), signal);
      }
    }
  }
}
