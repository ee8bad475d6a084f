// What to do after a failed call: the retry rules every execstream client implements alike.
//
// The codes and backoff come from the shared table (service_config.json); the rules that a
// gRPC service config cannot express, because they depend on the ErrorInfo reason, are here
// (docs/api.md, "Retrying", says why each holds):
// - a code the table lists for the method (UNAVAILABLE): try again after a backoff;
// - RESOURCE_EXHAUSTED with reason RATE_LIMITED or LIMIT_EXCEEDED: try again after a backoff,
//   waiting at least the RetryInfo delay;
// - RESOURCE_EXHAUSTED with reason WATCHER_TOO_SLOW: resume the watch at once from its
//   resume_revision;
// - RESOURCE_EXHAUSTED without a reason (gRPC's own "message too large"): never again;
// - OUT_OF_RANGE on a watch: re-list (a snapshot), never a blind retry;
// - CANCELLED: the client never decides about a call it cancelled itself, so this is a stream
//   reset under it (RST_STREAM CANCEL from a server going away or a proxy): as UNAVAILABLE;
// - anything else: stop and raise.
import type { StatusDetails } from './errors.js';
import { type Method, retryPolicy } from './service_config.js';

const RETRY_REASONS = new Set(['RATE_LIMITED', 'LIMIT_EXCEEDED']);

export type Decision =
  | { readonly action: 'retry'; readonly waitMs: number }
  | { readonly action: 'resume'; readonly resumeRevision: bigint }
  | { readonly action: 'relist' }
  | { readonly action: 'stop' };

export function decide(method: Method, status: StatusDetails): Decision {
  if (retryPolicy(method).retryableCodes.has(status.code) || status.code === 'CANCELLED') {
    return { action: 'retry', waitMs: 0 };
  }
  if (status.code === 'RESOURCE_EXHAUSTED') {
    if (RETRY_REASONS.has(status.reason)) {
      return { action: 'retry', waitMs: status.retryDelayMs ?? 0 };
    }
    const resume = status.metadata.resume_revision ?? '';
    if (status.reason === 'WATCHER_TOO_SLOW' && /^\d+$/.test(resume)) {
      return { action: 'resume', resumeRevision: BigInt(resume) };
    }
    return { action: 'stop' };
  }
  if (status.code === 'OUT_OF_RANGE' && method === 'WatchExecution') return { action: 'relist' };
  return { action: 'stop' };
}
