// Reading every page of a snapshot as one Snapshot.
//
// Pages after the first may be at later revisions; the merged snapshot keeps the first page's
// revision, which is the safe one to watch from (later events are skipped per task by
// `lastRevision`, see Snapshot.revision in the protocol). One page is one unary call, tried up
// to the table's maxAttempts (5) times: again after a backoff when decide() says so
// (UNAVAILABLE, a stream reset, a rate or count limit with its RetryInfo floor), as every
// execstream client does in its own loop.
import type { Client } from '@connectrpc/connect';
import { Attempts, sleep } from './backoff.js';
import { isCallError, statusOf } from './errors.js';
import type { TaskStatus } from './gen/execstream/v1/events_pb.js';
import type { ExecutionService, Snapshot } from './gen/execstream/v1/service_pb.js';
import { decide } from './retrying.js';
import { retryPolicy } from './service_config.js';

/** Deadline of one unary call (the table's GetSnapshot timeout): a read of committed state. */
export const UNARY_TIMEOUT_MS = 30_000;

export type Stub = Client<typeof ExecutionService>;

export interface SnapshotQuery {
  /** Only these tasks. */
  taskIds?: string[];
  /** Only these statuses, e.g. [TaskStatus.RUNNING]. */
  statuses?: TaskStatus[];
  /** Tasks per page (0: the server's default). */
  pageSize?: number;
  /** Follow next_page_token to the end (true). */
  allPages?: boolean;
  /** Start from this page. */
  pageToken?: string;
}

/** One unary call, retried per the shared table. */
export async function withRetries<T>(call: () => Promise<T>): Promise<T> {
  const table = retryPolicy('GetSnapshot');
  const attempts = new Attempts({ giveUpAfterMs: null });
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!isCallError(error) || attempt >= table.maxAttempts) throw error;
      const decision = decide('GetSnapshot', statusOf(error));
      if (decision.action !== 'retry') throw error;
      await sleep(attempts.nextDelayMs(decision.waitMs) ?? 0);
    }
  }
}

/** Every page of the snapshot (unless `allPages` is false), merged into one Snapshot. */
export async function readSnapshot(stub: Stub, query: SnapshotQuery = {}): Promise<Snapshot> {
  const { taskIds = [], statuses = [], pageSize = 0, allPages = true } = query;
  let pageToken = query.pageToken ?? '';
  let merged: Snapshot | null = null;
  for (;;) {
    const request = { taskIds, statuses, pageSize, pageToken };
    const page = await withRetries(
      () => stub.getSnapshot(request, { timeoutMs: UNARY_TIMEOUT_MS }));
    if (merged === null) merged = page;
    else {
      merged.tasks.push(...page.tasks);
      merged.nextPageToken = page.nextPageToken;
    }
    pageToken = page.nextPageToken;
    if (!pageToken || !allPages) return merged;
  }
}
