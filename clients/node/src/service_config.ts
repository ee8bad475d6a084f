// The retry table every execstream client shares: service_config.json beside the protos,
// copied into this package by scripts/gen_protos (CI fails when the copy is stale). The
// package reads its own copy at run time, so nothing outside it is needed once installed.
import { readFileSync } from 'node:fs';

export const SERVICE = 'execstream.v1.ExecutionService';
/** gRPC's connection-backoff spec spreads retries by +-20 %; a service config cannot say so. */
export const JITTER = 0.2;

export type Method = 'GetSnapshot' | 'WatchExecution' | 'ReportProgress';

/** One method's retryPolicy: which status codes to retry and how long to wait between tries. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialMs: number;
  readonly maximumMs: number;
  readonly multiplier: number;
  /** gRPC status names, e.g. "UNAVAILABLE". */
  readonly retryableCodes: ReadonlySet<string>;
}

interface RawRetryPolicy {
  maxAttempts: number;
  initialBackoff: string;
  maxBackoff: string;
  backoffMultiplier: number;
  retryableStatusCodes: string[];
}

interface RawServiceConfig {
  methodConfig: { name: { service?: string; method?: string }[]; retryPolicy: RawRetryPolicy }[];
}

function milliseconds(duration: string): number {
  if (!duration.endsWith('s')) {
    throw new Error(`service config: a duration ends with 's', not ${JSON.stringify(duration)}`);
  }
  return Number(duration.slice(0, -1)) * 1000;
}

function policy(raw: RawRetryPolicy): RetryPolicy {
  return Object.freeze({
    maxAttempts: raw.maxAttempts,
    initialMs: milliseconds(raw.initialBackoff),
    maximumMs: milliseconds(raw.maxBackoff),
    multiplier: raw.backoffMultiplier,
    retryableCodes: new Set(raw.retryableStatusCodes),
  });
}

/** The text of the packaged copy (dist/src/ -> the package root). */
export function serviceConfigText(): string {
  return readFileSync(new URL('../../service_config.json', import.meta.url), 'utf8');
}

let policies: Map<string, RetryPolicy> | undefined;

/** The retry policy of one ExecutionService method. */
export function retryPolicy(method: Method): RetryPolicy {
  if (policies === undefined) {
    const config = JSON.parse(serviceConfigText()) as RawServiceConfig;
    policies = new Map();
    for (const methodConfig of config.methodConfig) {
      for (const name of methodConfig.name) {
        if (name.service === SERVICE && name.method) {
          policies.set(name.method, policy(methodConfig.retryPolicy));
        }
      }
    }
  }
  const found = policies.get(method);
  if (found === undefined) throw new Error(`service_config.json names no retry policy for ${method}`);
  return found;
}
