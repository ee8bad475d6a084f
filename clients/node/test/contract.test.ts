// The execstream.v1 contract from TypeScript, against a real `execstream serve` process.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import {
  type ExecstreamClient, type ExecutionEvent, EventKind, ExecutionEventSchema, Outcome,
  ReportRefused, ResyncRequired, TaskStatus, type Watch,
} from '../src/index.js';
import { ServerProcess, waitFor } from '../fixtures/server.js';

/** Events of a watch until `done(event)` holds for one of them. */
async function collectUntil(watch: Watch, done: (event: ExecutionEvent) => boolean):
  Promise<ExecutionEvent[]> {
  const events: ExecutionEvent[] = [];
  for await (const event of watch) {
    events.push(event);
    if (done(event)) break;
  }
  return events;
}

const isFinished = (event: ExecutionEvent): boolean => event.body.case === 'finished';

describe('a real execstream server', () => {
  const server = new ServerProcess();
  let client: ExecstreamClient;

  before(async () => {
    await server.start();
    client = server.client();
  });

  after(async () => {
    await server.stop();
  });

  test('every kind of event is reported, watched from 0 in seq order, and a 1-hour cache write is billed', async () => {
    const reporter = client.reporter('ts-sidecar');
    const task = reporter.task('ts-task');
    task.started({ backend: 'anthropic', model: 'claude-opus-5', description: 'every kind' });
    task.token('Hello');
    task.stdout('out\n');
    task.stderr('err\n');
    task.toolCall('read_file', { argumentsSummary: 'path=a', resultSummary: '1 line', iteration: 1 });
    task.error('overloaded', { code: 'http_529', retryable: true });
    task.status(TaskStatus.RETRYING, { message: 'again' });
    task.status(TaskStatus.RUNNING);
    task.finished(Outcome.SUCCEEDED, { usage: { model: 'claude-opus-5', inputTokens: 10,
      outputTokens: 2, cacheWriteOneHourTokens: 1_000_000 } });
    const acked = await reporter.close();
    assert.equal(acked.eventsAccepted, 9n);
    assert.equal(acked.duplicates, 0n);

    const events = await collectUntil(
      client.watch({ taskIds: ['ts-task'], afterRevision: 0n }), isFinished);
    assert.deepEqual(events.map((e) => e.body.case), ['started', 'token', 'stdout', 'stderr',
      'toolCall', 'error', 'status', 'status', 'finished']);
    assert.deepEqual(events.map((e) => e.seq), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
    assert.deepEqual(events.map((e) => e.attempt), [1, 1, 1, 1, 1, 1, 1, 2, 2]);
    assert.equal(events.at(-1)?.revision, acked.lastRevision);

    const [state] = (await client.snapshot({ taskIds: ['ts-task'] })).tasks;
    assert.equal(state?.status, TaskStatus.SUCCEEDED);
    assert.equal(state?.lastSeq, 9n);
    assert.equal(state?.usage?.cacheWriteOneHourTokens, 1_000_000n);
    // claude-opus-5 in the packaged table: 1-hour cache writes at $10 per million tokens.
    assert.equal(state?.cost?.actual?.cacheWriteNanos, 10_000_000_000n);
  });

  test('a filtered watch sees only the kinds asked for', async () => {
    const events = await collectUntil(client.watch({ taskIds: ['ts-task'],
      kinds: [EventKind.STDOUT, EventKind.FINISHED], afterRevision: 0n }), isFinished);
    assert.deepEqual(events.map((e) => e.body.case), ['stdout', 'finished']);
  });

  test('a seq gap is refused with SEQ_GAP and the expected seq, decoded from the details', async () => {
    const gap = create(ExecutionEventSchema, { taskId: 'ts-task-2', seq: 2n,
      body: { case: 'stdout', value: { text: 'x' } } });
    await assert.rejects(client.report('ts-sidecar', [gap]), (error: unknown) => {
      assert.ok(error instanceof ReportRefused);
      assert.equal(error.code, 'FAILED_PRECONDITION');
      assert.equal(error.reason, 'SEQ_GAP');
      assert.equal(error.status.domain, 'execstream.v1');
      assert.equal(error.metadata.expected_seq, '1');
      assert.equal(error.metadata.task_id, 'ts-task-2');
      assert.deepEqual(error.status.committed?.tasks.map((t) => [t.taskId, t.lastSeq]),
        [['ts-task-2', 0n]]);
      return true;
    });
  });

  test('a resent seq with other content is refused with SEQ_CONFLICT', async () => {
    const event = (text: string) => create(ExecutionEventSchema, { taskId: 'ts-conflict', seq: 1n,
      time: { seconds: 1n, nanos: 0 }, body: { case: 'stdout', value: { text } } });
    await client.report('ts-sidecar', [event('first')]);
    const same = await client.report('ts-sidecar', [event('first')]);
    assert.equal(same.duplicates, 1n);
    await assert.rejects(client.report('ts-sidecar', [event('other')]), (error: unknown) => {
      assert.ok(error instanceof ReportRefused);
      assert.equal(error.code, 'ALREADY_EXISTS');
      assert.equal(error.reason, 'SEQ_CONFLICT');
      assert.deepEqual([error.metadata.task_id, error.metadata.seq], ['ts-conflict', '1']);
      return true;
    });
  });

  test('a bad field is INVALID_FIELD with its BadRequest violation', async () => {
    const bad = create(ExecutionEventSchema, { taskId: 'ts-bad', seq: 0n,
      body: { case: 'stdout', value: { text: 'x' } } });
    await assert.rejects(client.report('ts-sidecar', [bad]), (error: unknown) => {
      assert.ok(error instanceof ReportRefused);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.deepEqual(error.status.fieldViolations.map((v) => v.field), ['events[0].seq']);
      return true;
    });
  });

  test('a watch after a revision beyond the head throws ResyncRequired(REVISION_IN_FUTURE)',
    { timeout: 20_000 }, async () => {
      await assert.rejects(collectUntil(client.watch({ afterRevision: 1_000_000n }), () => true),
        (error: unknown) => {
          assert.ok(error instanceof ResyncRequired);
          assert.equal(error.reason, 'REVISION_IN_FUTURE');
          assert.equal(error.status?.metadata.after_revision, '1000000');
          return true;
        });
    });

  test('with onRelist, a watch beyond the head re-lists and continues from the snapshot',
    { timeout: 20_000 }, async () => {
      let relisted = -1n;
      const watch = client.watch({ afterRevision: 1_000_000n,
        onRelist: (snapshot) => { relisted = snapshot.revision; } });
      const collecting = collectUntil(watch, () => true);
      await waitFor(() => relisted >= 0n, { what: 'the re-list' });
      assert.equal(watch.revision, relisted);
      watch.cancel();
      assert.deepEqual(await collecting, []);
    });
});
