// The entry point: one channel to one execstream server (or a balancer in front of replicas).
import { ReportRefused, isRpcError, refusedOrUnreachable } from './errors.js';
import {
  callMetadata, channelCredentials, channelOptions, resolveOptions,
} from './options.js';
import { execstreamPackage } from './proto.js';
import { Reporter, reportOnce } from './reporter.js';
import { readSnapshot } from './snapshot.js';
import { Watch } from './watch.js';

export class ExecstreamClient {
  /**
   * @param {import('./options.js').ConnectOptions & { protosDir?: string }} [options]
   *   unset fields come from EXECSTREAM_TARGET, EXECSTREAM_TOKEN, EXECSTREAM_CA, ...
   */
  constructor(options = {}) {
    const { protosDir, ...connect } = options;
    this.options = resolveOptions(connect);
    const { ExecutionService } = execstreamPackage(protosDir);
    const stub = new ExecutionService(
      this.options.target,
      channelCredentials(this.options),
      channelOptions(this.options),
    );
    /** What watchers and reporters share: the stub, fresh metadata per call, the target. */
    this.conn = { stub, metadata: () => callMetadata(this.options), target: this.options.target };
  }

  /**
   * Every task's state (all pages unless `allPages: false`), at `snapshot.revision`.
   * @param {import('./snapshot.js').SnapshotQuery} [query]
   */
  async snapshot(query = {}) {
    try {
      return await readSnapshot(this.conn.stub, this.conn.metadata, query);
    } catch (error) {
      throw refusedOrUnreachable(this.conn.target, error);
    }
  }

  /**
   * Events as an async iterable that reconnects with backoff and resumes after the last
   * revision it delivered (no gap, no duplicate). List-then-watch:
   * `watch({ afterRevision: (await client.snapshot()).revision })`.
   * @param {import('./watch.js').WatchQuery} [query]
   */
  watch(query = {}) {
    return new Watch(this.conn, query);
  }

  /**
   * A batching reporter for `sidecarId`; `close()` it to commit the last events.
   * @param {string} sidecarId
   * @param {import('./reporter.js').ReporterOptions} [options]
   */
  reporter(sidecarId, options = {}) {
    return new Reporter(this.conn, sidecarId, options);
  }

  /**
   * One ReportProgress stream with events numbered by the caller, no retry: for sidecars
   * that keep their own seq (and for testing the server's seq rules).
   * @param {string} sidecarId
   * @param {object[]} events ExecutionEvent objects with taskId, seq and a body
   * @returns {Promise<any>} the ReportProgressResponse; rejects with ReportRefused
   */
  async report(sidecarId, events) {
    try {
      return await reportOnce(this.conn, sidecarId, events);
    } catch (error) {
      if (isRpcError(error)) throw new ReportRefused(error.code, error.details);
      throw error;
    }
  }

  /** Resolves once the channel is connected (or rejects after `timeoutMs`). */
  waitForReady(timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      this.conn.stub.waitForReady(new Date(Date.now() + timeoutMs), (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  close() {
    this.conn.stub.close();
  }
}
