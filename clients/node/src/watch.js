// Resumable watching: reconnect after a drop and continue exactly after the last revision.
//
// The cursor is the highest revision delivered to the caller, or announced by a heartbeat
// (Progress: everything matching the watch up to it was sent). Resuming with
// after_revision = cursor therefore neither repeats nor skips an event.
import { status } from '@grpc/grpc-js';
import { Attempts, sleep } from './backoff.js';
import {
  RETRYABLE, ResyncRequired, ServerRefused, Unreachable, isRpcError, unreachable,
} from './errors.js';
import { readSnapshot } from './snapshot.js';

/**
 * @typedef {object} WatchQuery
 * @property {string[]} [taskIds] only these tasks
 * @property {string[]} [sidecarIds] only tasks of these sidecars
 * @property {string[]} [kinds] only these kinds, e.g. ['EVENT_KIND_STDOUT']
 * @property {number} [afterRevision] replay every retained event after it, then go live
 *   (0: from the beginning); unset: live from now
 * @property {(snapshot: any) => void} [onRelist] on OUT_OF_RANGE, called with a fresh snapshot
 *   and the watch continues from its revision; without it, ResyncRequired is thrown
 * @property {import('./backoff.js').BackoffPolicy} [backoff] reconnect timing
 * @property {AbortSignal} [signal] ends the iteration quietly when aborted
 */

/** An async iterable of ExecutionEvent objects that survives server restarts. */
export class Watch {
  /**
   * @param {{ stub: any, metadata: () => import('@grpc/grpc-js').Metadata, target: string }} conn
   * @param {WatchQuery} query
   */
  constructor(conn, query = {}) {
    this.conn = conn;
    this.query = query;
    /** Highest revision delivered or announced; resume after it. Undefined: live from now. */
    this.revision = query.afterRevision;
    this.call = null;
  }

  /** The request to (re)open with. */
  request() {
    const { taskIds = [], sidecarIds = [], kinds = [] } = this.query;
    const request = { taskIds, sidecarIds, kinds };
    return this.revision === undefined ? request : { ...request, afterRevision: this.revision };
  }

  /** The response's events the caller has not seen; advances the cursor. */
  accept(response) {
    const fresh = response.events.filter(
      (event) => this.revision === undefined || event.revision > this.revision,
    );
    if (fresh.length > 0) this.revision = fresh[fresh.length - 1].revision;
    if (response.progress) this.revision = Math.max(this.revision ?? 0, response.progress.revision);
    return fresh;
  }

  /** Stop watching: the iteration ends at its next step. */
  cancel() {
    this.cancelled = true;
    this.call?.cancel();
  }

  async *[Symbol.asyncIterator]() {
    const { signal } = this.query;
    const onAbort = () => this.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      yield* this.#events();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.cancel();
    }
  }

  async *#events() {
    const attempts = new Attempts(this.query.backoff);
    while (!this.cancelled && !this.query.signal?.aborted) {
      let failure = null;
      this.call = this.conn.stub.WatchExecution(this.request(), this.conn.metadata());
      this.call.on('error', () => {}); // surfaced by the iteration below; never unhandled
      try {
        for await (const response of this.call) {
          attempts.reset();
          yield* this.accept(response);
        }
      } catch (error) {
        if (this.cancelled || this.query.signal?.aborted) return;
        if (await this.#relisted(error)) continue;
        failure = error; // retryable: reconnect below
      }
      // Ending with OK means the server closed the stream (draining): reconnect as well.
      const delay = attempts.nextDelayMs();
      if (delay === null) {
        throw failure
          ? unreachable(this.conn.target, failure)
          : new Unreachable(this.conn.target, 'the server keeps ending the stream');
      }
      await sleep(delay);
    }
  }

  /** Classify a broken watch: true after re-listing, false to reconnect; throws to give up. */
  async #relisted(error) {
    if (!isRpcError(error)) throw error;
    if (error.code === status.OUT_OF_RANGE) {
      if (!this.query.onRelist) throw new ResyncRequired(this.revision ?? 0, error.details);
      const snapshot = await readSnapshot(this.conn.stub, this.conn.metadata,
        { taskIds: this.query.taskIds });
      this.query.onRelist(snapshot);
      this.revision = snapshot.revision;
      return true;
    }
    if (!RETRYABLE.has(error.code)) throw new ServerRefused(error.code, error.details);
    return false;
  }
}
