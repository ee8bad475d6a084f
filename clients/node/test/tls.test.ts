// Token and TLS options reach the wire: a server with bearer-token auth and mutual TLS.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ConnectOptions, ReportRefused, Unreachable } from '../src/index.js';
import { makeCerts } from '../fixtures/certs.js';
import { ServerProcess, execstreamCli } from '../fixtures/server.js';

describe('a server with auth and mutual TLS', () => {
  const server = new ServerProcess();
  const authFile = path.join(server.dir, 'tokens.toml');
  const token = (...args: string[]): string =>
    execstreamCli('token', 'create', '--auth-file', authFile, ...args).trim().split('\n')[0] ?? '';
  let tls: ConnectOptions = {};
  let viewer = '';
  let sidecar = '';

  before(async () => {
    const certs = makeCerts(server.dir);
    viewer = token('--role', 'viewer');
    sidecar = token('--role', 'sidecar', '--sidecar-id', 'secure-sidecar');
    tls = { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey,
      serverName: 'localhost' };
    server.extraArgs.push('--auth-file', authFile, '--tls-cert', certs.serverCert,
      '--tls-key', certs.serverKey, '--tls-client-ca', certs.ca);
    await server.start();
  });

  after(async () => {
    await server.stop();
  });

  test('a sidecar token reports and reads its own task, a viewer reads, over mTLS', async () => {
    const reporter = server.client({ ...tls, token: sidecar }).reporter('secure-sidecar');
    reporter.task('secure-task').stdout('over tls\n');
    assert.equal((await reporter.close()).eventsAccepted, 1n);
    const own = await server.client({ ...tls, token: sidecar }).snapshot();
    assert.deepEqual(own.tasks.map((t) => t.taskId), ['secure-task']);
    const seen = await server.client({ ...tls, token: viewer }).snapshot({ taskIds: ['secure-task'] });
    assert.equal(seen.tasks[0]?.sidecarId, 'secure-sidecar');
  });

  test('a sidecar token cannot report as another sidecar: SIDECAR_MISMATCH', async () => {
    const reporter = server.client({ ...tls, token: sidecar }).reporter('someone-else');
    reporter.task('stolen').stdout('x');
    await assert.rejects(reporter.close(), (error: unknown) => {
      assert.ok(error instanceof ReportRefused);
      assert.equal(error.code, 'PERMISSION_DENIED');
      assert.equal(error.reason, 'SIDECAR_MISMATCH');
      return true;
    });
  });

  test('without a client certificate the handshake fails: Unreachable', async () => {
    const client = server.client({ caFile: tls.caFile, serverName: 'localhost', token: viewer });
    await assert.rejects(client.snapshot(), (error: unknown) => {
      assert.ok(error instanceof Unreachable);
      assert.match(error.message, /^cannot reach execstream at 127\.0\.0\.1:\d+: /);
      return true;
    });
  });
});
