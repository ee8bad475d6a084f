// The client's errors: what a caller can act on, with the server's words kept.
//
//   ExecstreamError
//   ├── Unreachable       the server could not be reached within the reconnect budget
//   ├── ServerRefused     a status that retrying will not change (`status`: code, reason, ...)
//   │   └── ReportRefused the server refused reported events; the reporter stops
//   └── ResyncRequired    the watch cannot resume (compacted, future revision, another log)
//
// Every refusal carries the google.rpc.Status details of the `grpc-status-details-bin`
// trailer, decoded once into StatusDetails: the ErrorInfo reason (an ErrorReason name from
// errors.proto) and metadata, the BadRequest field violations, the RetryInfo delay, and for a
// refused ReportProgress the ReportProgressResponse of what is committed.
import { Code, ConnectError } from '@connectrpc/connect';
import { durationMs } from '@bufbuild/protobuf/wkt';
import { Code as RpcCode } from './gen/google/rpc/code_pb.js';
import {
  type ReportProgressResponse, ReportProgressResponseSchema,
} from './gen/execstream/v1/service_pb.js';
import {
  BadRequestSchema, ErrorInfoSchema, RetryInfoSchema,
} from './gen/google/rpc/error_details_pb.js';

export const DOMAIN = 'execstream.v1';

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** A non-OK status with its machine-readable details. */
export interface StatusDetails {
  /** The gRPC status name, e.g. "FAILED_PRECONDITION". */
  readonly code: string;
  readonly message: string;
  /** ErrorInfo.reason, e.g. "SEQ_GAP"; "" when gRPC itself failed (no ErrorInfo). */
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fieldViolations: readonly FieldViolation[];
  /** RetryInfo: how long the server asks us to wait, if it said. */
  readonly retryDelayMs: number | null;
  /** A refused ReportProgress: what the stream got committed, and each task's last seq. */
  readonly committed: ReportProgressResponse | null;
}

/** The gRPC name of a status number, e.g. 9 -> "FAILED_PRECONDITION". */
export function codeName(code: number): string {
  return RpcCode[code] ?? `CODE_${code}`;
}

/** Is this a failed call (rather than a bug in the caller)? */
export function isCallError(error: unknown): error is ConnectError {
  return error instanceof ConnectError;
}

// Node errors that mean the connection went away under a call. gRPC names that UNAVAILABLE
// (grpc-go, grpc-java and grpcio all do); the Node transport reports a reset connection as
// ABORTED, and closes the streams of a session that died (a server gone, a failed TLS
// handshake) with CANCEL, so the client names both as gRPC does: a server it cannot reach.
// The client never passes its own cancellations through here (a cancelled watch ends first).
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ECONNABORTED',
  'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION',
  'ERR_STREAM_PREMATURE_CLOSE']);

function lostConnection(error: ConnectError): boolean {
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 8; depth += 1) {
    const { code } = cause as Error & { code?: unknown };
    if (typeof code === 'string' && CONNECTION_LOST.has(code)) return true;
    cause = cause.cause;
  }
  return false;
}

/** The gRPC status name of a failed call (a lost connection is UNAVAILABLE). */
function callCode(error: ConnectError): string {
  if (error.code === Code.Canceled) return 'UNAVAILABLE';
  if (error.code !== Code.Unavailable && lostConnection(error)) return 'UNAVAILABLE';
  return codeName(error.code);
}

/** The status of a failed call, with its details decoded. Only an ErrorInfo of the domain
 * execstream.v1 gives the reason, the first one, as in every execstream client (a proxy may
 * add its own). */
export function statusOf(error: ConnectError): StatusDetails {
  const info = error.findDetails(ErrorInfoSchema).find((found) => found.domain === DOMAIN);
  const violations = error.findDetails(BadRequestSchema).flatMap((bad) => bad.fieldViolations);
  const [retry] = error.findDetails(RetryInfoSchema);
  const [committed] = error.findDetails(ReportProgressResponseSchema);
  return Object.freeze({
    code: callCode(error),
    message: error.rawMessage,
    reason: info?.reason ?? '',
    domain: info?.domain ?? '',
    metadata: Object.freeze({ ...(info?.metadata ?? {}) }),
    fieldViolations: violations.map(({ field, description }) => ({ field, description })),
    retryDelayMs: retry?.retryDelay ? durationMs(retry.retryDelay) : null,
    committed: committed ?? null,
  });
}

export class ExecstreamError extends Error {
  override name = 'ExecstreamError';
}

/** The server could not be reached (within the reconnect budget, where there is one).
 * `status` is the last failure's, decoded (null when no call failed, e.g. a stream the server
 * kept ending): UNAVAILABLE, with the reason SHUTTING_DOWN and, for a report, the `committed`
 * detail when the server said so. */
export class Unreachable extends ExecstreamError {
  override name = 'Unreachable';
  readonly target: string;
  readonly reason: string;
  readonly status: StatusDetails | null;

  constructor(target: string, reason: string, status: StatusDetails | null = null) {
    super(`cannot reach execstream at ${target}: ${reason}`);
    this.target = target;
    this.reason = reason;
    this.status = status;
  }
}

export class ServerRefused extends ExecstreamError {
  override name = 'ServerRefused';
  readonly status: StatusDetails;

  constructor(status: StatusDetails) {
    super(`${status.code}: ${status.message}`);
    this.status = status;
  }

  /** The gRPC status name, e.g. "PERMISSION_DENIED". */
  get code(): string {
    return this.status.code;
  }

  /** The ErrorInfo reason (an ErrorReason name), or "" when there was none. */
  get reason(): string {
    return this.status.reason;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.status.metadata;
  }
}

/** Events before the refused batch stay committed; later events of the task would only be
 * refused as a gap, so the reporter stops at the first refusal. `metadata.last_seq` is the
 * task's last committed seq. */
export class ReportRefused extends ServerRefused {
  override name = 'ReportRefused';
}

/** Why a watch must re-list: the first two are the server's ErrorReason names. */
export const REVISION_COMPACTED = 'REVISION_COMPACTED';
export const REVISION_IN_FUTURE = 'REVISION_IN_FUTURE';
/** Detected by the client: a Progress named another log than the one the watch began on. */
export const LOG_ID_CHANGED = 'LOG_ID_CHANGED';

/** Take a snapshot and watch from its revision, or pass `onRelist` to `watch`. `status` is the
 * server's refusal, null when the client detected the change itself. */
export class ResyncRequired extends ExecstreamError {
  override name = 'ResyncRequired';
  readonly afterRevision: bigint;
  readonly reason: string;
  readonly status: StatusDetails | null;

  constructor(afterRevision: bigint, reason: string, message: string,
    status: StatusDetails | null = null) {
    super(`cannot resume after revision ${afterRevision} (${reason}): ${message}`);
    this.afterRevision = afterRevision;
    this.reason = reason;
    this.status = status;
  }
}

/** The human part of a connection failure, e.g. "connection refused". */
export function unreachable(target: string, error: unknown): Unreachable {
  const details = error instanceof ConnectError ? error.rawMessage
    : error instanceof Error ? error.message : String(error);
  const lowered = details.toLowerCase();
  const known = ['connection refused', 'econnrefused', 'connection reset', 'econnreset',
    'name resolution', 'enotfound', 'timed out', 'deadline exceeded', 'certificate',
    'handshake', 'socket closed'];
  const found = known.find((needle) => lowered.includes(needle));
  const reason = found === 'econnrefused' ? 'connection refused'
    : found === 'econnreset' ? 'connection reset'
      : found === 'enotfound' ? 'name resolution'
        : found ?? (details.trim().split('\n')[0] || 'unavailable');
  return new Unreachable(target, reason, error instanceof ConnectError ? statusOf(error) : null);
}

/** A failed call as the client's own error: a server that is not there, or one that said no. */
export function refusedOrUnreachable(target: string, error: unknown): unknown {
  if (!isCallError(error)) return error;
  const status = statusOf(error);
  if (status.code === 'UNAVAILABLE') return unreachable(target, error);
  return new ServerRefused(status);
}
