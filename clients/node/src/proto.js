// Loads the execstream.v1 contract from protos/ at run time, so the Node client can never
// drift from the .proto files the server is generated from (no generated JS to keep fresh).
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The repository's protos/ directory (clients/node/src -> ../../../protos). */
export const DEFAULT_PROTOS_DIR = fileURLToPath(new URL('../../../protos', import.meta.url));

// camelCase fields (JS habit), enum names as strings (readable, and what the server's
// errors name), 64-bit integers as Numbers: revisions and seqs stay far below 2**53.
const LOADER_OPTIONS = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

const loaded = new Map();

/**
 * The `execstream.v1` package: `ExecutionService` (a grpc-js client constructor) and the rest.
 * Loaded once per directory.
 * @param {string} [protosDir] defaults to EXECSTREAM_PROTOS or the repository's protos/
 * @returns {any}
 */
export function execstreamPackage(protosDir = process.env.EXECSTREAM_PROTOS || DEFAULT_PROTOS_DIR) {
  let pkg = loaded.get(protosDir);
  if (pkg === undefined) {
    const definition = protoLoader.loadSync(path.join('execstream', 'v1', 'service.proto'), {
      ...LOADER_OPTIONS,
      includeDirs: [protosDir],
    });
    pkg = grpc.loadPackageDefinition(definition).execstream.v1;
    loaded.set(protosDir, pkg);
  }
  return pkg;
}
