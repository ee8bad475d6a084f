// Where the server is and how to talk to it: one place for target, token and TLS, so an auth
// or TLS option given once reaches every call (including the snapshot a reporter resyncs with).
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

export const DEFAULT_TARGET = '127.0.0.1:50051';

// Keepalive pings notice a dead server behind a silent network path (a watcher could otherwise
// wait forever on a half-open connection); 20 s stays above the server's minimum ping interval.
const CHANNEL_OPTIONS = Object.freeze({
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
});

/**
 * @typedef {object} ConnectOptions
 * @property {string} [target] host:port (EXECSTREAM_TARGET, else 127.0.0.1:50051)
 * @property {string} [token] bearer token sent as `authorization` metadata (EXECSTREAM_TOKEN)
 * @property {boolean} [tls] use TLS (implied by caFile, certFile or credentials)
 * @property {string} [caFile] PEM CA bundle to trust (EXECSTREAM_CA)
 * @property {string} [certFile] PEM client certificate, for mTLS (EXECSTREAM_CERT)
 * @property {string} [keyFile] PEM key of certFile (EXECSTREAM_KEY)
 * @property {string} [serverName] name to verify the server certificate against
 * @property {grpc.ChannelCredentials} [credentials] ready-made credentials (overrides the files)
 * @property {Record<string, string | number>} [channelOptions] extra grpc-js channel options
 */

/**
 * Options from EXECSTREAM_* variables, then `overrides` (empty values do not override).
 * @param {ConnectOptions} [overrides]
 * @returns {Required<Pick<ConnectOptions, 'target' | 'token'>> & ConnectOptions}
 */
export function resolveOptions(overrides = {}) {
  const env = process.env;
  const fromEnv = {
    target: env.EXECSTREAM_TARGET || DEFAULT_TARGET,
    token: env.EXECSTREAM_TOKEN || '',
    caFile: env.EXECSTREAM_CA || '',
    certFile: env.EXECSTREAM_CERT || '',
    keyFile: env.EXECSTREAM_KEY || '',
    serverName: env.EXECSTREAM_SERVER_NAME || '',
    tls: ['1', 'true', 'yes'].includes(env.EXECSTREAM_TLS ?? ''),
  };
  const given = Object.fromEntries(
    Object.entries(overrides).filter(([, value]) => value !== undefined && value !== ''),
  );
  const options = { ...fromEnv, ...given };
  if (options.caFile || options.certFile || options.credentials) options.tls = true;
  if (Boolean(options.certFile) !== Boolean(options.keyFile)) {
    throw new Error('certFile and keyFile go together (client certificate for mTLS)');
  }
  return options;
}

/**
 * @param {ConnectOptions} options resolved options
 * @returns {grpc.ChannelCredentials}
 */
export function channelCredentials(options) {
  if (options.credentials) return options.credentials;
  if (!options.tls) return grpc.credentials.createInsecure();
  const read = (/** @type {string | undefined} */ file) => (file ? readFileSync(file) : null);
  return grpc.credentials.createSsl(
    read(options.caFile),
    read(options.keyFile),
    read(options.certFile),
  );
}

/**
 * @param {ConnectOptions} options resolved options
 * @returns {Record<string, string | number>}
 */
export function channelOptions(options) {
  const extra = options.serverName
    ? { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName }
    : {};
  return { ...CHANNEL_OPTIONS, ...extra, ...options.channelOptions };
}

/**
 * Per-call metadata. The token goes in metadata rather than call credentials because
 * grpc-js refuses call credentials on an insecure channel, and loopback setups use one.
 * @param {ConnectOptions} options resolved options
 * @returns {grpc.Metadata}
 */
export function callMetadata(options) {
  const metadata = new grpc.Metadata();
  if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
  return metadata;
}
