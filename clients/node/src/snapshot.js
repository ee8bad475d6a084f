// Reading every page of a snapshot as one Snapshot.
//
// Pages after the first may be at later revisions; the merged snapshot keeps the first page's
// revision, which is the safe one to watch from (later events are skipped per task by
// `lastRevision`, see Snapshot.revision in the protocol).

/** Deadline of one unary call: a snapshot page is a read of committed state. */
export const UNARY_TIMEOUT_MS = 30_000;

/**
 * @typedef {object} SnapshotQuery
 * @property {string[]} [taskIds] only these tasks
 * @property {string[]} [statuses] only these statuses, e.g. ['TASK_STATUS_RUNNING']
 * @property {number} [pageSize] tasks per page (0: the server's default)
 * @property {boolean} [allPages] follow next_page_token to the end (true)
 * @property {string} [pageToken] start from this page
 */

/**
 * One unary call as a promise.
 * @param {any} stub an ExecutionService client
 * @param {string} method
 * @param {object} request
 * @param {import('@grpc/grpc-js').Metadata} metadata
 * @returns {Promise<any>}
 */
export function unary(stub, method, request, metadata) {
  const deadline = new Date(Date.now() + UNARY_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    stub[method](request, metadata, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/**
 * @param {any} stub an ExecutionService client
 * @param {() => import('@grpc/grpc-js').Metadata} metadata
 * @param {SnapshotQuery} [query]
 * @returns {Promise<any>} a Snapshot with the tasks of every page read
 */
export async function readSnapshot(stub, metadata, query = {}) {
  const { taskIds = [], statuses = [], pageSize = 0, allPages = true } = query;
  let pageToken = query.pageToken ?? '';
  let merged = null;
  for (;;) {
    const page = await unary(stub, 'GetSnapshot', { taskIds, statuses, pageSize, pageToken },
      metadata());
    if (merged === null) merged = page;
    else {
      merged.tasks.push(...page.tasks);
      merged.nextPageToken = page.nextPageToken;
    }
    pageToken = page.nextPageToken;
    if (!pageToken || !allPages) return merged;
  }
}
