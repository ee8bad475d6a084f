// The rules every execstream client shares (docs/api.md, Retrying), as this client follows
// them: a snapshot page is retried by its own loop, a single report is one message in one call,
// never retried, and keeps its decoded error; only the first ErrorInfo of execstream.v1 gives
// the reason; a slow watcher resumes from its own cursor; after a re-list, what a later page
// of the snapshot holds is not delivered again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type ExecstreamClient, type ExecutionEvent, ExecutionEventSchema, ReportRefused, ServerTraits,
  type Snapshot, Unreachable, Watch, statusOf,
} from '../src/index.js';
import { ErrorInfoSchema } from '../src/gen/google/rpc/error_details_pb.js';
import { CutFirstProxy } from '../fixtures/cut_first_proxy.js';
import { ServerProcess } from '../fixtures/server.js';

const stdout = (taskId: string, seq: bigint): ExecutionEvent => create(ExecutionEventSchema,
  { taskId, seq, body: { case: 'stdout', value: { text: `${taskId} ${seq}\n` } } });

const info = (domain: string, reason: string, metadata: Record<string, string> = {}) =>
  ({ desc: ErrorInfoSchema, value: { domain, reason, metadata } });

test('only the first ErrorInfo of execstream.v1 gives the reason', () => {
  const error = new ConnectError('refused', Code.FailedPrecondition, undefined, [
    info('proxy.example.com', 'UPSTREAM_RESET', { hop: '1' }),
    info('execstream.v1', 'SEQ_GAP', { task_id: 't', expected_seq: '3', last_seq: '2' }),
    info('execstream.v1', 'TASK_FINISHED', { task_id: 't' }),
  ]);
  const status = statusOf(error);
  assert.deepEqual([status.domain, status.reason], ['execstream.v1', 'SEQ_GAP']);
  assert.deepEqual(status.metadata, { task_id: 't', expected_seq: '3', last_seq: '2' });
  const foreign = statusOf(new ConnectError('x', Code.Unavailable, undefined,
    [info('proxy.example.com', 'X')]));
  assert.deepEqual([foreign.domain, foreign.reason, foreign.metadata], ['', '', {}]);
});

test('a slow watcher resumes from its own cursor', () => {
  const slow = new ConnectError('slow', Code.ResourceExhausted, undefined,
    [info('execstream.v1', 'WATCHER_TOO_SLOW', { resume_revision: '7' })]);
  const conn = { stub: {} as never, target: 'unused', traits: new ServerTraits() };
  type Failing = { failed(error: unknown): number | null };
  const behind = new Watch(conn, { afterRevision: 10n });
  assert.equal((behind as unknown as Failing).failed(slow), null, 'at once');
  assert.equal(behind.revision, 10n, 'never back before what the watch has');
  const live = new Watch(conn, {}); // has not heard where it starts
  (live as unknown as Failing).failed(slow);
  assert.equal(live.revision, 7n);
});

describe('against a real server', () => {
  const server = new ServerProcess();
  let client: ExecstreamClient;
  let proxy: CutFirstProxy;

  before(async () => {
    await server.start();
    client = server.client();
  });

  after(async () => {
    await server.stop();
  });

  test('a snapshot page is retried after a lost connection', { timeout: 60_000 }, async () => {
    await client.report('ts-rules', [stdout('ts-snap', 1n)]);
    proxy = await new CutFirstProxy(server.port).start();
    try {
      const snapshot = await server.client({ target: proxy.target }).snapshot({ taskIds: ['ts-snap'] });
      assert.equal(proxy.cuts, 1);
      assert.deepEqual(snapshot.tasks.map((task) => task.taskId), ['ts-snap']);
    } finally {
      await proxy.stop();
    }
  });

  test('a single report is one call, never retried, and keeps its decoded status',
    { timeout: 60_000 }, async () => {
      proxy = await new CutFirstProxy(server.port).start();
      try {
        const through = server.client({ target: proxy.target });
        const lost = await through.report('ts-rules', [stdout('ts-once', 1n)]).then(
          () => assert.fail('the report went through'), (error: unknown) => error);
        assert.ok(lost instanceof Unreachable, String(lost));
        assert.equal(lost.status?.code, 'UNAVAILABLE');
        assert.deepEqual((await client.snapshot({ taskIds: ['ts-once'] })).tasks, [],
          'nothing was resent');
      } finally {
        await proxy.stop();
      }
    });

  test('a single report is all or nothing, however many events', async () => {
    const events = Array.from({ length: 300 }, (_, index) => stdout('ts-batch', BigInt(index + 1)));
    events.push(stdout('ts-batch', 302n)); // a gap: the report is refused
    const refused = await client.report('ts-rules', events).then(
      () => assert.fail('a gap was accepted'), (error: unknown) => error);
    assert.ok(refused instanceof ReportRefused && refused.reason === 'SEQ_GAP', String(refused));
    assert.deepEqual((await client.snapshot({ taskIds: ['ts-batch'] })).tasks, [],
      'nothing of the refused report is stored');
  });

  test('after a re-list, what a later page holds is not delivered again', { timeout: 60_000 },
    async () => {
      await client.report('ts-rules', [stdout('ts-pa', 1n)]);
      await client.report('ts-rules', [stdout('ts-pb', 1n)]);
      const head = (await client.snapshot({ taskIds: ['ts-pa'] })).revision;
      let pages = 0;
      const stub = new Proxy(client.stub, {
        get(target, property, receiver) {
          if (property !== 'getSnapshot') return Reflect.get(target, property, receiver);
          return async (request: { pageSize?: number }, options?: object) => {
            const page = await target.getSnapshot({ ...request, pageSize: 1 }, options);
            pages += 1;
            if (pages === 1) { // between the pages: one event on each page's task
              await client.report('ts-rules', [stdout('ts-pb', 2n)]); // page 2 holds it
              await client.report('ts-rules', [stdout('ts-pa', 2n)]); // page 1 does not
            }
            return page;
          };
        },
      });
      const relisted: Snapshot[] = [];
      const watch = new Watch({ stub, target: server.target, traits: new ServerTraits() }, {
        taskIds: ['ts-pa', 'ts-pb'], afterRevision: head + 1000n, // beyond the head: re-list
        onRelist: (snapshot) => { relisted.push(snapshot); },
      });
      const delivered: ExecutionEvent[] = [];
      for await (const event of watch) {
        delivered.push(event);
        if (delivered.length === 1) await client.report('ts-rules', [stdout('ts-pa', 3n)]);
        if (delivered.length === 2) break;
      }
      const listed = relisted[0];
      assert.equal(listed?.revision, head);
      assert.deepEqual(listed?.tasks.map((task) => [task.taskId, task.lastRevision]),
        [['ts-pa', head - 1n], ['ts-pb', head + 1n]]);
      assert.deepEqual(delivered.map((event) => [event.taskId, event.seq, event.revision]),
        [['ts-pa', 2n, head + 2n], ['ts-pa', 3n, head + 3n]]);
    });
});
