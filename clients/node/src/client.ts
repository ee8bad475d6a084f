// The entry point: one connection to one execstream server (or a balancer in front of replicas).
import { createClient } from '@connectrpc/connect';
import {
  ReportRefused, isCallError, refusedOrUnreachable, statusOf, unreachable,
} from './errors.js';
import type { ExecutionEvent } from './gen/execstream/v1/events_pb.js';
import {
  ExecutionService, type ReportProgressResponse, type Snapshot,
} from './gen/execstream/v1/service_pb.js';
import { type ConnectOptions, type ResolvedOptions, resolveOptions, transportFor } from './options.js';
import { Reporter, type ReporterOptions, reportOnce } from './reporter.js';
import { type SnapshotQuery, type Stub, readSnapshot } from './snapshot.js';
import { ServerTraits, Watch, type WatchQuery } from './watch.js';

export class ExecstreamClient {
  readonly options: ResolvedOptions;
  /** The generated ExecutionService client, for calls the helpers do not cover. */
  readonly stub: Stub;
  private readonly traits = new ServerTraits();

  /** Unset options come from EXECSTREAM_TARGET, EXECSTREAM_TOKEN, EXECSTREAM_CA, ... */
  constructor(options: ConnectOptions = {}) {
    this.options = resolveOptions(options);
    this.stub = createClient(ExecutionService, transportFor(this.options));
  }

  private get conn() {
    return { stub: this.stub, target: this.options.target, traits: this.traits };
  }

  /** Every task's state (all pages unless `allPages: false`), at `snapshot.revision`. */
  async snapshot(query: SnapshotQuery = {}): Promise<Snapshot> {
    try {
      return await readSnapshot(this.stub, query);
    } catch (error) {
      throw refusedOrUnreachable(this.options.target, error);
    }
  }

  /** Events as an async iterable that reconnects with backoff and resumes after the last
   * revision it delivered (no gap, no duplicate). List-then-watch:
   * `const s = await client.snapshot(); client.watch({ afterRevision: s.revision, logId: s.logId })`. */
  watch(query: WatchQuery = {}): Watch {
    return new Watch(this.conn, query);
  }

  /** A batching reporter for `sidecarId`; `close()` it to commit the last events. */
  reporter(sidecarId: string, options: ReporterOptions = {}): Reporter {
    return new Reporter(this.conn, sidecarId, options);
  }

  /** One ReportProgress call with events numbered by the caller, not retried: for sidecars
   * that keep their own seqs. The events travel as one ProgressReport, so all of them are
   * stored or none. A refusal rejects with ReportRefused (its `reason`, e.g. SEQ_GAP, and
   * `metadata`); UNAVAILABLE (no server, or SHUTTING_DOWN) with Unreachable, whose `status`
   * keeps the decoded error, what the call got committed included. */
  async report(sidecarId: string, events: ExecutionEvent[]): Promise<ReportProgressResponse> {
    try {
      return await reportOnce(this.stub, sidecarId, events, Math.max(1, events.length));
    } catch (error) {
      if (!isCallError(error)) throw error;
      const status = statusOf(error);
      if (status.code === 'UNAVAILABLE') throw unreachable(this.options.target, error);
      throw new ReportRefused(status);
    }
  }
}
