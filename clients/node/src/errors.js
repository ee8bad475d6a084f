// The client's errors: what a caller can act on, with the server's words kept.
//
//   ExecstreamError
//   ├── Unreachable       the server could not be reached within the reconnect budget
//   ├── ServerRefused     a status that retrying will not change (code, details)
//   │   └── ReportRefused the server refused reported events; the reporter stops
//   └── ResyncRequired    the resume revision was compacted away: re-list, then watch
import { status } from '@grpc/grpc-js';

/** Codes after which trying again can succeed without the caller changing anything: the server
 * restarted or is draining (UNAVAILABLE), or cut a slow watcher / rate-limited a burst
 * (RESOURCE_EXHAUSTED). Everything else is the caller's to fix. */
export const RETRYABLE = new Set([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED]);

/** Name of a numeric gRPC status code, e.g. 9 -> "FAILED_PRECONDITION". */
export function codeName(code) {
  return Object.keys(status).find((name) => status[name] === code) ?? `CODE_${code}`;
}

export class ExecstreamError extends Error {
  name = 'ExecstreamError';
}

export class Unreachable extends ExecstreamError {
  name = 'Unreachable';

  /** @param {string} target @param {string} reason */
  constructor(target, reason) {
    super(`cannot reach execstream at ${target}: ${reason}`);
    this.target = target;
    this.reason = reason;
  }
}

export class ServerRefused extends ExecstreamError {
  name = 'ServerRefused';

  /** @param {number} code a grpc status code @param {string} details */
  constructor(code, details) {
    super(`${codeName(code)}: ${details}`);
    this.code = code;
    this.details = details;
  }
}

/** Events before the refused batch stay committed; later events of the task would only be
 * refused as a gap, so the reporter stops at the first refusal. */
export class ReportRefused extends ServerRefused {
  name = 'ReportRefused';
}

/** Take a snapshot and watch from its revision, or pass `onRelist` to `watch`. */
export class ResyncRequired extends ExecstreamError {
  name = 'ResyncRequired';

  /** @param {number} afterRevision @param {string} details */
  constructor(afterRevision, details) {
    super(`revision ${afterRevision} is no longer retained: ${details}`);
    this.afterRevision = afterRevision;
  }
}

/** Is this a grpc-js call error (it carries a numeric `code`)? */
export function isRpcError(error) {
  return error instanceof Error && typeof (/** @type {any} */ (error).code) === 'number';
}

/** The human part of a connection failure, e.g. "connection refused". */
export function unreachable(target, error) {
  // grpc-js ends some details with an empty "Resolution note:"; it says nothing to people.
  const details = String(error?.details ?? error?.message ?? 'unavailable')
    .replace(/\s*Resolution note:\s*$/, '');
  const lowered = details.toLowerCase();
  const known = ['connection refused', 'connection reset', 'name resolution', 'dns resolution',
    'timed out', 'deadline exceeded', 'certificate', 'handshake', 'socket closed'];
  const reason = known.find((needle) => lowered.includes(needle));
  return new Unreachable(target, reason ?? (details.trim().split('\n')[0] || 'unavailable'));
}

/** A grpc-js error as the client's own: a server that is not there, or one that said no. */
export function refusedOrUnreachable(target, error) {
  if (!isRpcError(error)) return error;
  if (error.code === status.UNAVAILABLE) return unreachable(target, error);
  return new ServerRefused(error.code, error.details);
}
