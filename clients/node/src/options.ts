// Where the server is and how to talk to it: one place for target, token and TLS, so an auth
// or TLS option given once reaches every call (including the snapshot a reporter resyncs with).
import { readFileSync } from 'node:fs';
import type { Interceptor, Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';

export const DEFAULT_TARGET = '127.0.0.1:50051';
// Replies can be large (a snapshot page of many tasks); the server caps its own messages.
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
// Keepalive pings notice a dead server behind a silent network path (a watcher could otherwise
// wait forever on a half-open connection); 20 s stays above the server's minimum ping interval.
const PING_INTERVAL_MS = 20_000;
const PING_TIMEOUT_MS = 10_000;

export interface ConnectOptions {
  /** host:port (EXECSTREAM_TARGET, else 127.0.0.1:50051). */
  target?: string;
  /** Bearer token sent as `authorization: Bearer <token>` (EXECSTREAM_TOKEN). */
  token?: string;
  /** Use TLS (implied by caFile or certFile; EXECSTREAM_TLS=1). */
  tls?: boolean;
  /** PEM CA bundle to trust (EXECSTREAM_CA). */
  caFile?: string;
  /** PEM client certificate, for mTLS (EXECSTREAM_CERT). */
  certFile?: string;
  /** PEM key of certFile (EXECSTREAM_KEY). */
  keyFile?: string;
  /** Name to verify the server certificate against (EXECSTREAM_SERVER_NAME). */
  serverName?: string;
}

export type ResolvedOptions = Required<ConnectOptions>;

/** Options from EXECSTREAM_* variables, then `overrides` (empty values do not override). */
export function resolveOptions(overrides: ConnectOptions = {}): ResolvedOptions {
  const env = process.env;
  const options: ResolvedOptions = {
    target: env.EXECSTREAM_TARGET || DEFAULT_TARGET,
    token: env.EXECSTREAM_TOKEN || '',
    caFile: env.EXECSTREAM_CA || '',
    certFile: env.EXECSTREAM_CERT || '',
    keyFile: env.EXECSTREAM_KEY || '',
    serverName: env.EXECSTREAM_SERVER_NAME || '',
    tls: ['1', 'true', 'yes'].includes(env.EXECSTREAM_TLS ?? ''),
  };
  for (const [key, value] of Object.entries(overrides) as [keyof ConnectOptions, unknown][]) {
    if (value !== undefined && value !== '') Object.assign(options, { [key]: value });
  }
  if (options.caFile || options.certFile) options.tls = true;
  if (Boolean(options.certFile) !== Boolean(options.keyFile)) {
    throw new Error('certFile and keyFile go together (client certificate for mTLS)');
  }
  return options;
}

/** Adds the bearer token to every call. */
function bearer(token: string): Interceptor {
  return (next) => async (request) => {
    request.header.set('authorization', `Bearer ${token}`);
    return await next(request);
  };
}

/** A gRPC (HTTP/2) transport to the server: reconnects by itself after a drop. */
export function transportFor(options: ResolvedOptions): Transport {
  const read = (file: string): Buffer | undefined => (file ? readFileSync(file) : undefined);
  return createGrpcTransport({
    baseUrl: `${options.tls ? 'https' : 'http'}://${options.target}`,
    interceptors: options.token ? [bearer(options.token)] : [],
    readMaxBytes: MAX_RECEIVE_BYTES,
    pingIntervalMs: PING_INTERVAL_MS,
    pingTimeoutMs: PING_TIMEOUT_MS,
    nodeOptions: options.tls
      ? {
          ca: read(options.caFile),
          cert: read(options.certFile),
          key: read(options.keyFile),
          ...(options.serverName ? { servername: options.serverName } : {}),
        }
      : {},
  });
}
