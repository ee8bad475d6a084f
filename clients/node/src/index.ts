// execstream's TypeScript client: resumable watch, paged snapshot and a batching reporter, on
// the types generated from protos/execstream/v1 (re-exported here).
export { ExecstreamClient } from './client.js';
export { Watch, ServerTraits, type WatchQuery } from './watch.js';
export {
  Reporter, DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_MAX_BATCH, type ReporterOptions, type ReporterTotals,
} from './reporter.js';
export { TaskReporter, usage, type EventBody, type UsageCounts } from './task.js';
export { type SnapshotQuery } from './snapshot.js';
export {
  DOMAIN, ExecstreamError, LOG_ID_CHANGED, REVISION_COMPACTED, REVISION_IN_FUTURE, ReportRefused,
  ResyncRequired, ServerRefused, Unreachable, codeName, statusOf, type FieldViolation,
  type StatusDetails,
} from './errors.js';
export { Attempts, type BackoffPolicy, DEFAULT_GIVE_UP_AFTER_MS } from './backoff.js';
export { decide, type Decision } from './retrying.js';
export { retryPolicy, serviceConfigText, type RetryPolicy, type Method } from './service_config.js';
export { DEFAULT_TARGET, type ConnectOptions } from './options.js';
export * from './gen/execstream/v1/events_pb.js';
export * from './gen/execstream/v1/state_pb.js';
export * from './gen/execstream/v1/service_pb.js';
export * from './gen/execstream/v1/errors_pb.js';
