// Bearer tokens from TypeScript: sent as `authorization: Bearer <token>`, refusals decoded.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ServerRefused } from '../src/index.js';
import { ServerProcess, execstreamCli } from '../fixtures/server.js';

const server = new ServerProcess();
const tokens = path.join(server.dir, 'tokens.toml');
const token = (...args: string[]): string =>
  execstreamCli('token', 'create', '--auth-file', tokens, ...args).trim().split('\n')[0] ?? '';
let admin = '';
let viewer = '';

before(async () => {
  admin = token('--role', 'admin');
  viewer = token('--role', 'viewer');
  server.extraArgs.push('--auth-file', tokens);
  await server.start();
});

after(async () => {
  await server.stop();
});

test('a token reaches the server on every call', async () => {
  const reporter = server.client({ token: admin }).reporter('ts-auth');
  reporter.task('ts-auth-task').started();
  await reporter.close();
  const snapshot = await server.client({ token: viewer }).snapshot({ taskIds: ['ts-auth-task'] });
  assert.equal(snapshot.tasks.length, 1);
});

test('no token is UNAUTHENTICATED, a viewer reporting is PERMISSION_DENIED', async () => {
  await assert.rejects(server.client().snapshot(), (error: unknown) => {
    assert.ok(error instanceof ServerRefused);
    assert.equal(error.code, 'UNAUTHENTICATED');
    assert.equal(error.reason, 'TOKEN_INVALID');
    return true;
  });
  const reporter = server.client({ token: viewer }).reporter('ts-auth');
  reporter.task('ts-viewer-task').started();
  await assert.rejects(reporter.close(), (error: unknown) => {
    assert.ok(error instanceof ServerRefused);
    assert.equal(error.code, 'PERMISSION_DENIED');
    assert.equal(error.reason, 'ROLE_FORBIDDEN');
    return true;
  });
});
