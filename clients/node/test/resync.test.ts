// The reporter acknowledges only what the server committed, and after a lost answer resyncs from
// the snapshot's last_seq instead of resending what is already stored.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ExecstreamClient } from '../src/index.js';
import { LostAnswerProxy } from '../fixtures/lost_answer_proxy.js';
import { ServerProcess } from '../fixtures/server.js';

const server = new ServerProcess();
let proxy: LostAnswerProxy;

before(async () => {
  await server.start();
  proxy = await new LostAnswerProxy(server.port).start();
});

after(async () => {
  await proxy.stop();
  await server.stop();
});

test('a lost answer is resynced from last_seq: every event stored once, none resent',
  { timeout: 60_000 }, async () => {
    const client = new ExecstreamClient({ target: proxy.target });
    const reporter = client.reporter('ts-resync');
    const task = reporter.task('ts-resync-task');
    task.started();
    await reporter.flush(); // the connection is up before the cut is armed
    proxy.arm();
    for (let line = 0; line < 50; line += 1) task.stdout(`line ${line}\n`);
    const totals = await reporter.close();
    assert.equal(proxy.cuts, 1, 'one answer was lost');
    assert.equal(totals.duplicates, 0n, 'nothing committed was sent again');
    assert.equal(totals.eventsAccepted, 51n);
    const [state] = (await server.client().snapshot({ taskIds: ['ts-resync-task'] })).tasks;
    assert.equal(state?.lastSeq, 51n);
    assert.equal(state?.eventCount, 51n);
  });
