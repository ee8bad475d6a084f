// The README's runnable examples run against a real server: docs rot when nothing runs them.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ServerProcess, waitFor } from '../fixtures/server.js';

const README = new URL('../README.md', import.meta.url);
const INDEX = new URL('../src/index.js', import.meta.url).href;
const BLOCK = /^```js runnable\n([\s\S]*?)^```/gm;
const [REPORT, LIST_THEN_WATCH] = [...readFileSync(README, 'utf8').matchAll(BLOCK)]
  .map((match) => match[1]);

describe('the README examples', () => {
  const server = new ServerProcess();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'execstream-node-readme-'));

  before(() => server.start());
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Write a README block as a module that imports this client and uses the test server. */
  function script(name, block) {
    const file = path.join(dir, `${name}.mjs`);
    writeFileSync(file, block
      .replaceAll("'execstream-client'", `'${INDEX}'`)
      .replaceAll('127.0.0.1:50051', server.target));
    return file;
  }

  test('list-then-watch follows the task the report example reports, to its end', async () => {
    assert.ok(REPORT && LIST_THEN_WATCH, 'the README has both runnable examples');
    const watcher = spawn(process.execPath, [script('watch', LIST_THEN_WATCH)],
      { stdio: ['ignore', 'pipe', 'inherit'], timeout: 15_000 });
    let watched = '';
    watcher.stdout.setEncoding('utf8').on('data', (text) => { watched += text; });
    const exited = once(watcher, 'exit');
    await waitFor(() => watched.includes('listed'), { what: 'the watcher to list' });

    const { stdout } = await promisify(execFile)(process.execPath,
      [script('report', REPORT)], { timeout: 15_000 });
    assert.equal(stdout, 'committed 4 events up to revision 4\n');

    const [code] = await exited;
    assert.equal(code, 0);
    assert.equal(watched, [
      'listed 0 tasks at revision 0',
      '#1 demo seq 1 started',
      '#2 demo seq 2 token',
      '#3 demo seq 3 token',
      '#4 demo seq 4 finished',
      '',
    ].join('\n'));
  });
});
