// The execstream.v1 contract from Node, against a real `execstream serve` process.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ReportRefused, codeName } from '../src/index.js';
import { ServerProcess } from '../fixtures/server.js';

const USAGE = { model: 'llama3.2:3b', backend: 'ollama', inputTokens: 12, outputTokens: 34 };

/** Events of a watch until `done(event)` holds for one of them. */
async function collectUntil(watch, done) {
  const events = [];
  for await (const event of watch) {
    events.push(event);
    if (done(event)) break;
  }
  return events;
}

const isFinished = (event) => event.body === 'finished';

describe('a real execstream server', () => {
  const server = new ServerProcess();
  let client;

  before(async () => {
    await server.start();
    client = server.client();
  });

  after(async () => {
    client?.close();
    await server.stop();
  });

  test('reported events are watched from revision 0 in seq order without gaps', async () => {
    const reporter = client.reporter('node-sidecar');
    const task = reporter.task('node-task');
    task.started({ backend: 'ollama', model: 'llama3.2:3b', description: 'say hi' });
    task.stdout('hello from node\n');
    task.finished('OUTCOME_SUCCEEDED', { usage: USAGE });
    const acked = await reporter.close();
    assert.equal(acked.eventsAccepted, 3);
    assert.equal(acked.duplicates, 0);

    const events = await collectUntil(
      client.watch({ taskIds: ['node-task'], afterRevision: 0 }), isFinished);
    assert.deepEqual(events.map((e) => e.body), ['started', 'stdout', 'finished']);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
    const revisions = events.map((e) => e.revision);
    assert.deepEqual(revisions, [acked.lastRevision - 2, acked.lastRevision - 1, acked.lastRevision]);
    assert.ok(events.every((e) => e.sidecarId === 'node-sidecar' && e.attempt === 1));
    assert.equal(events[1].stdout.text, 'hello from node\n');
    assert.equal(events[2].finished.usage.outputTokens, 34);
  });

  test('the snapshot shows the finished task with its last seq and usage', async () => {
    const snapshot = await client.snapshot({ taskIds: ['node-task'] });
    assert.equal(snapshot.tasks.length, 1);
    const [state] = snapshot.tasks;
    assert.equal(state.status, 'TASK_STATUS_SUCCEEDED');
    assert.equal(state.lastSeq, 3);
    assert.equal(state.eventCount, 3);
    assert.equal(state.model, 'llama3.2:3b');
    assert.equal(state.usage.inputTokens, 12);
    assert.equal(state.cost.local, true, 'an ollama model is local and free');
    assert.match(state.outputTail, /hello from node/);
    assert.ok(snapshot.revision >= state.lastRevision);
  });

  test('snapshot follows every page', async () => {
    const reporter = client.reporter('node-pager');
    for (let i = 0; i < 5; i += 1) reporter.task(`page-${i}`).stdout('x');
    await reporter.close();
    const paged = await client.snapshot({ pageSize: 2 });
    const ids = paged.tasks.map((state) => state.taskId);
    assert.ok(['page-0', 'page-1', 'page-2', 'page-3', 'page-4'].every((id) => ids.includes(id)));
    assert.equal(new Set(ids).size, ids.length, 'no task twice across pages');
    assert.equal(paged.nextPageToken, '');
    const first = await client.snapshot({ pageSize: 2, allPages: false });
    assert.equal(first.tasks.length, 2);
    assert.notEqual(first.nextPageToken, '');
  });

  test('a duplicate seq is acknowledged and not stored again', async () => {
    const stdout = (seq, text) => ({ taskId: 'dup-task', seq, stdout: { text } });
    await client.report('node-sidecar', [stdout(1, 'one'), stdout(2, 'two')]);
    const again = await client.report('node-sidecar', [stdout(2, 'two')]);
    assert.equal(again.duplicates, 1);
    assert.equal(again.eventsAccepted, 0);
    assert.deepEqual(again.tasks, [{ taskId: 'dup-task', lastSeq: 2 }]);
    await assert.rejects(
      client.report('node-sidecar', [stdout(2, 'other content')]),
      (error) => {
        assert.ok(error instanceof ReportRefused);
        assert.equal(codeName(error.code), 'ALREADY_EXISTS');
        return true;
      });
    await client.report('node-sidecar',
      [{ taskId: 'dup-task', seq: 3, finished: { outcome: 'OUTCOME_SUCCEEDED' } }]);

    const events = await collectUntil(
      client.watch({ taskIds: ['dup-task'], afterRevision: 0 }), isFinished);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
    assert.equal(events[1].stdout.text, 'two');
    const [state] = (await client.snapshot({ taskIds: ['dup-task'] })).tasks;
    assert.equal(state.eventCount, 3);
  });

  test('a seq gap is refused with FAILED_PRECONDITION and nothing of it is stored', async () => {
    await client.report('node-sidecar', [{ taskId: 'gap-task', seq: 1, stdout: { text: 'a' } }]);
    await assert.rejects(
      client.report('node-sidecar', [{ taskId: 'gap-task', seq: 3, stdout: { text: 'c' } }]),
      (error) => {
        assert.ok(error instanceof ReportRefused);
        assert.equal(codeName(error.code), 'FAILED_PRECONDITION');
        assert.match(error.details, /expected seq 2/);
        return true;
      },
    );
    const [state] = (await client.snapshot({ taskIds: ['gap-task'] })).tasks;
    assert.equal(state.lastSeq, 1);
  });

  test('the reporter stops at a refusal and says why', async () => {
    const reporter = client.reporter('node-sidecar');
    // node-task finished above: the server accepts nothing more for it.
    reporter.task('node-task', { nextSeq: 4 }).stdout('too late');
    await assert.rejects(reporter.close(), (error) => {
      assert.ok(error instanceof ReportRefused);
      assert.equal(codeName(error.code), 'FAILED_PRECONDITION');
      return true;
    });
    assert.throws(() => reporter.task('other').stdout('x'), ReportRefused);
  });
});
