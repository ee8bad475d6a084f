// A server killed (SIGKILL) and restarted under a live watch and a reporter: the watch resumes
// with no gap and no duplicate, the reporter commits every event exactly once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ExecstreamClient, ExecutionEvent } from '../src/index.js';
import { ServerProcess, waitFor } from '../fixtures/server.js';

const server = new ServerProcess();
let client: ExecstreamClient;

before(async () => {
  await server.start();
  client = server.client();
});

after(async () => {
  await server.stop();
});

test('a live watch and a reporter survive kill -9 and a restart', { timeout: 60_000 }, async () => {
  const reporter = client.reporter('ts-restart');
  const task = reporter.task('ts-restart-task');
  task.started();
  await reporter.flush();

  const watch = client.watch({ taskIds: ['ts-restart-task'] }); // live: from now
  const seen: ExecutionEvent[] = [];
  const watching = (async () => {
    for await (const event of watch) seen.push(event);
  })();
  await watch.waitStarted();
  const start = watch.revision ?? -1n;
  assert.ok(start >= 1n, 'a live watch knows where it starts');

  task.stdout('before\n');
  await reporter.flush();
  await waitFor(() => seen.length === 1, { what: 'the event before the crash' });

  await server.kill();
  await server.start();
  for (let line = 0; line < 5; line += 1) task.stdout(`after ${line}\n`);
  task.finished();
  await reporter.flush();
  await waitFor(() => seen.length === 7, { timeoutMs: 30_000, what: 'the events after restart' });

  watch.cancel();
  await watching;
  assert.deepEqual(seen.map((e) => e.seq), [2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  const revisions = seen.map((e) => e.revision);
  assert.deepEqual(revisions, revisions.map((_, index) => start + 1n + BigInt(index)));
  const [state] = (await client.snapshot({ taskIds: ['ts-restart-task'] })).tasks;
  assert.equal(state?.lastSeq, 8n);
  assert.equal(state?.eventCount, 8n);
});
