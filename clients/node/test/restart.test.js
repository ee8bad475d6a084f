// Watching and reporting across a crash and restart of the server (same port, same database).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ServerProcess } from '../fixtures/server.js';

const QUICK_RETRY = { initialMs: 20, maximumMs: 200 };
const seqsOf = (events) => events.map((event) => event.seq);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('a server that crashes and comes back', () => {
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

  test('watch resumes after the last delivered revision: no gap, no duplicate', async () => {
    const firstRun = client.reporter('restart-sidecar');
    const task = firstRun.task('watched');
    for (let i = 1; i <= 5; i += 1) task.stdout(`line ${i}\n`);
    await firstRun.close();

    const watch = client.watch({ taskIds: ['watched'], afterRevision: 0, backoff: QUICK_RETRY });
    const events = [];
    for await (const event of watch) {
      events.push(event);
      if (event.seq === 5) {
        await server.kill();
        await server.start();
        const afterRestart = client.reporter('restart-sidecar');
        const resumed = await afterRestart.resumeTask('watched');
        assert.equal(resumed.lastSeq, 5, 'acknowledged events survive the crash');
        for (let i = 6; i <= 9; i += 1) resumed.stdout(`line ${i}\n`);
        resumed.finished();
        await afterRestart.close();
      }
      if (event.body === 'finished') break;
    }
    assert.deepEqual(seqsOf(events), range(1, 10));
    const revisions = events.map((event) => event.revision);
    assert.deepEqual(revisions, range(revisions[0], revisions[0] + 9));
    assert.equal(watch.revision, revisions[9]);
  });

  test('the reporter keeps events queued while the server is down and commits each once', async () => {
    const reporter = client.reporter('restart-sidecar', { backoff: QUICK_RETRY });
    const task = reporter.task('reported');
    for (let i = 1; i <= 20; i += 1) task.stdout(`before ${i}\n`);
    await reporter.flush();
    await server.kill();
    for (let i = 1; i <= 20; i += 1) task.stdout(`during ${i}\n`);
    task.finished('OUTCOME_FAILED', { exitCode: 3, error: 'exit status 3' });
    const flushed = reporter.flush(); // retries against the dead server until it is back
    await server.start();
    await flushed;
    const acked = await reporter.close();
    assert.equal(acked.eventsAccepted + acked.duplicates, 41);

    const [state] = (await client.snapshot({ taskIds: ['reported'] })).tasks;
    assert.equal(state.status, 'TASK_STATUS_FAILED');
    assert.equal(state.lastSeq, 41);
    assert.equal(state.eventCount, 41);
    assert.equal(state.exitCode, 3);
    const events = [];
    for await (const event of client.watch({ taskIds: ['reported'], afterRevision: 0 })) {
      events.push(event);
      if (event.body === 'finished') break;
    }
    assert.deepEqual(seqsOf(events), range(1, 41));
  });
});
