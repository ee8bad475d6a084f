// Token and TLS options reach the wire: a server with bearer-token auth and mutual TLS.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ReportRefused, ServerRefused, Unreachable, codeName } from '../src/index.js';
import { haveOpenssl, makeCerts } from '../fixtures/certs.js';
import { ServerProcess, execstreamCli } from '../fixtures/server.js';

describe('a server with auth and mutual TLS', { skip: !haveOpenssl() && 'no openssl CLI' }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'execstream-node-sec-'));
  const authFile = path.join(dir, 'tokens.toml');
  const token = (...args) => execstreamCli('token', 'create', '--auth-file', authFile, ...args)
    .trim();
  let server;
  let tls;
  let tokens;

  before(async () => {
    const certs = makeCerts(dir);
    tokens = {
      viewer: token('--role', 'viewer'),
      sidecar: token('--role', 'sidecar', '--sidecar-id', 'secure-sidecar'),
    };
    tls = { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey,
      serverName: 'localhost' };
    server = new ServerProcess(
      ['--auth-file', authFile, '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey,
        '--tls-client-ca', certs.ca],
      tls,
    );
    await server.start();
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Run `body` with a client of the secured server, then close it. */
  async function withClient(options, body) {
    const client = server.client(options);
    try {
      return await body(client);
    } finally {
      client.close();
    }
  }

  test('a sidecar token reports and a viewer token reads, over TLS', async () => {
    const acked = await withClient({ token: tokens.sidecar }, async (client) => {
      const reporter = client.reporter('secure-sidecar');
      reporter.task('secure-task').stdout('over tls\n');
      return reporter.close();
    });
    assert.equal(acked.eventsAccepted, 1);
    const snapshot = await withClient({ token: tokens.viewer },
      (client) => client.snapshot({ taskIds: ['secure-task'] }));
    assert.equal(snapshot.tasks[0].sidecarId, 'secure-sidecar');
  });

  test('without a token the server answers UNAUTHENTICATED', async () => {
    await withClient({}, async (client) => {
      await assert.rejects(client.snapshot(), (error) => {
        assert.ok(error instanceof ServerRefused);
        assert.equal(codeName(error.code), 'UNAUTHENTICATED');
        return true;
      });
    });
  });

  test('a sidecar token cannot report as another sidecar', async () => {
    await withClient({ token: tokens.sidecar }, async (client) => {
      const reporter = client.reporter('someone-else');
      reporter.task('stolen').stdout('x');
      await assert.rejects(reporter.close(), (error) => {
        assert.ok(error instanceof ReportRefused);
        assert.equal(codeName(error.code), 'PERMISSION_DENIED');
        return true;
      });
    });
  });

  test('without a client certificate the handshake fails', async () => {
    const noCert = { ...tls, certFile: undefined, keyFile: undefined };
    await withClient({ ...noCert, token: tokens.viewer }, async (client) => {
      await assert.rejects(client.snapshot(), (error) => {
        assert.ok(error instanceof Unreachable);
        assert.match(error.message, /^cannot reach execstream at 127\.0\.0\.1:\d+: /);
        return true;
      });
    });
  });
});
