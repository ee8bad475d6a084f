// execstream's Node client: resumable watch, paged snapshot and a batching reporter.
export { ExecstreamClient } from './client.js';
export { Watch } from './watch.js';
export { Reporter, DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_MAX_BATCH } from './reporter.js';
export { TaskReporter } from './task.js';
export {
  ExecstreamError, ReportRefused, ResyncRequired, ServerRefused, Unreachable, codeName,
} from './errors.js';
export { DEFAULT_TARGET } from './options.js';
export { DEFAULT_PROTOS_DIR, execstreamPackage } from './proto.js';
