// The client's own rules, without a server: the retry table, the reason rules, backoff timing
// and the decoding of google.rpc details from a failed call.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  Attempts, TaskReporter, TaskStatus, decide, retryPolicy, serviceConfigText, statusOf, usage,
  type StatusDetails,
} from '../src/index.js';
import {
  BadRequestSchema, ErrorInfoSchema, RetryInfoSchema,
} from '../src/gen/google/rpc/error_details_pb.js';

const status = (fields: Partial<StatusDetails>): StatusDetails => ({
  code: 'UNKNOWN', message: '', reason: '', domain: 'execstream.v1', metadata: {},
  fieldViolations: [], retryDelayMs: null, committed: null, ...fields,
});

describe('the shared retry table', () => {
  test('the package carries the same service config as protos/', () => {
    const source = new URL('../../../../protos/execstream/v1/service_config.json', import.meta.url);
    assert.equal(serviceConfigText(), readFileSync(source, 'utf8'));
  });

  test('every method retries UNAVAILABLE from 1 s, x1.6, up to 120 s', () => {
    for (const method of ['GetSnapshot', 'WatchExecution', 'ReportProgress'] as const) {
      const policy = retryPolicy(method);
      assert.deepEqual([...policy.retryableCodes], ['UNAVAILABLE']);
      assert.deepEqual([policy.initialMs, policy.maximumMs, policy.multiplier], [1000, 120_000, 1.6]);
    }
  });
});

describe('the reason rules', () => {
  test('UNAVAILABLE is retried, other codes without a rule stop', () => {
    assert.equal(decide('ReportProgress', status({ code: 'UNAVAILABLE' })).action, 'retry');
    for (const code of ['DEADLINE_EXCEEDED', 'INTERNAL', 'UNKNOWN', 'FAILED_PRECONDITION',
      'ALREADY_EXISTS', 'PERMISSION_DENIED', 'INVALID_ARGUMENT']) {
      assert.equal(decide('ReportProgress', status({ code })).action, 'stop', code);
    }
  });

  test('a stream reset under the call (CANCELLED) is retried like UNAVAILABLE', () => {
    assert.equal(decide('ReportProgress', status({ code: 'CANCELLED' })).action, 'retry');
  });

  test('a rate limit waits at least what RetryInfo asks', () => {
    const decision = decide('ReportProgress',
      status({ code: 'RESOURCE_EXHAUSTED', reason: 'RATE_LIMITED', retryDelayMs: 2500 }));
    assert.deepEqual(decision, { action: 'retry', waitMs: 2500 });
    const limit = decide('WatchExecution', status({ code: 'RESOURCE_EXHAUSTED', reason: 'LIMIT_EXCEEDED' }));
    assert.deepEqual(limit, { action: 'retry', waitMs: 0 });
  });

  test('a slow watcher resumes from its resume_revision', () => {
    const decision = decide('WatchExecution', status({ code: 'RESOURCE_EXHAUSTED',
      reason: 'WATCHER_TOO_SLOW', metadata: { resume_revision: '41' } }));
    assert.deepEqual(decision, { action: 'resume', resumeRevision: 41n });
  });

  test('a message too large (no reason) is never retried', () => {
    assert.equal(decide('ReportProgress', status({ code: 'RESOURCE_EXHAUSTED' })).action, 'stop');
  });

  test('OUT_OF_RANGE re-lists a watch', () => {
    const decision = decide('WatchExecution',
      status({ code: 'OUT_OF_RANGE', reason: 'REVISION_IN_FUTURE' }));
    assert.equal(decision.action, 'relist');
  });
});

describe('backoff', () => {
  test('delays grow x1.6 from 1 s within +-20 % and stop at the budget', () => {
    const attempts = new Attempts({ giveUpAfterMs: 1_000_000 });
    const delays = [1, 2, 3, 4].map(() => attempts.nextDelayMs() ?? -1);
    [1000, 1600, 2560, 4096].forEach((centre, index) => {
      const delay = delays[index] ?? -1;
      assert.ok(delay >= centre * 0.8 && delay <= centre * 1.2, `${delay} around ${centre}`);
    });
    assert.equal(new Attempts({ giveUpAfterMs: 0 }).nextDelayMs(), null);
  });

  test('the cap holds and a server-asked wait wins when longer', () => {
    const attempts = new Attempts({ maximumMs: 3000, giveUpAfterMs: null });
    for (let i = 0; i < 20; i += 1) assert.ok((attempts.nextDelayMs() ?? 0) <= 3600);
    assert.equal(new Attempts({ giveUpAfterMs: null }).nextDelayMs(50_000), 50_000);
  });
});

describe('status details', () => {
  test('ErrorInfo, BadRequest and RetryInfo are decoded from a failed call', () => {
    const info = create(ErrorInfoSchema, { reason: 'SEQ_GAP', domain: 'execstream.v1',
      metadata: { task_id: 't', expected_seq: '3' } });
    const bad = create(BadRequestSchema, { fieldViolations: [{ field: 'events[0].seq',
      description: 'must be at least 1' }] });
    const retry = create(RetryInfoSchema, { retryDelay: durationFromMs(1500) });
    const error = new ConnectError('gap', Code.FailedPrecondition, undefined, [
      { desc: ErrorInfoSchema, value: info }, { desc: BadRequestSchema, value: bad },
      { desc: RetryInfoSchema, value: retry }]);
    const decoded = statusOf(error);
    assert.equal(decoded.code, 'FAILED_PRECONDITION');
    assert.equal(decoded.reason, 'SEQ_GAP');
    assert.deepEqual(decoded.metadata, { task_id: 't', expected_seq: '3' });
    assert.deepEqual(decoded.fieldViolations, [{ field: 'events[0].seq', description: 'must be at least 1' }]);
    assert.equal(decoded.retryDelayMs, 1500);
  });

  test('a connection reset under a call is UNAVAILABLE, as gRPC names it', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const error = new ConnectError('read ECONNRESET', Code.Aborted, undefined, undefined, reset);
    assert.equal(statusOf(error).code, 'UNAVAILABLE');
    assert.equal(statusOf(new ConnectError('x', Code.Aborted)).code, 'ABORTED');
  });
});

describe('the task reporter', () => {
  test('numbers seqs, stamps attempts and starts the next attempt after RETRYING', () => {
    const queued: bigint[][] = [];
    const task = new TaskReporter('t', (event) => queued.push([event.seq, BigInt(event.attempt)]));
    task.started();
    task.status(TaskStatus.RETRYING);
    task.token('again');
    assert.deepEqual(queued, [[1n, 1n], [2n, 1n], [3n, 2n]]);
    assert.equal(task.lastSeq, 3n);
  });

  test('usage takes the 1-hour cache write under its proto name', () => {
    const message = usage({ cacheWriteOneHourTokens: 1_000_000, inputTokens: 5n });
    assert.equal(message.cacheWriteOneHourTokens, 1_000_000n);
    assert.equal(message.inputTokens, 5n);
  });
});
