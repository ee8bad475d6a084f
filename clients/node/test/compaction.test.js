// A watch whose resume point was compacted away must re-list (Kubernetes' "410 Gone").
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ResyncRequired } from '../src/index.js';
import { ServerProcess, waitFor } from '../fixtures/server.js';

describe('a server that keeps only the last 3 events', () => {
  const server = new ServerProcess(['--retain-events', '3', '--compact-interval', '50ms']);
  let client;

  before(async () => {
    await server.start();
    client = server.client();
    const reporter = client.reporter('compacted-sidecar');
    const task = reporter.task('old-task');
    for (let i = 1; i <= 10; i += 1) task.stdout(`line ${i}\n`);
    await reporter.close();
    await waitFor(async () => (await client.snapshot()).oldestRevision > 2,
      { what: 'compaction' });
  });

  after(async () => {
    client?.close();
    await server.stop();
  });

  test('watching from a compacted revision throws ResyncRequired', async () => {
    const watch = client.watch({ afterRevision: 0 });
    await assert.rejects(async () => {
      for await (const event of watch) assert.fail(`unexpected event ${event.revision}`);
    }, (error) => {
      assert.ok(error instanceof ResyncRequired);
      assert.equal(error.afterRevision, 0);
      return true;
    });
  });

  test('with onRelist the watch takes a snapshot and continues after its revision', async () => {
    const relisted = [];
    const watch = client.watch({ afterRevision: 0, onRelist: (snapshot) => relisted.push(snapshot) });
    const iterator = watch[Symbol.asyncIterator]();
    const next = iterator.next();
    await waitFor(() => relisted.length === 1, { what: 'the re-list' });
    assert.equal(relisted[0].tasks.find((t) => t.taskId === 'old-task').lastSeq, 10);
    await client.report('compacted-sidecar',
      [{ taskId: 'old-task', seq: 11, stdout: { text: 'after the re-list\n' } }]);
    const { value: event } = await next;
    assert.equal(event.seq, 11);
    assert.equal(event.revision, relisted[0].revision + 1);
    await iterator.return();
  });
});
