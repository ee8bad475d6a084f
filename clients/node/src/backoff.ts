// Reconnect timing shared by watchers and reporters: exponential, jittered, with a budget.
// The numbers come from the shared retry table (1 s initial, x1.6, 120 s cap) with +-20 %
// jitter. Long-lived loops (a watch, a reporter) are bounded not by the table's maxAttempts,
// which counts the tries of one call, but by giveUpAfterMs: the time spent failing in a row.
import { JITTER, retryPolicy } from './service_config.js';

/** How long a watch or a reporter keeps failing in a row before it gives up. */
export const DEFAULT_GIVE_UP_AFTER_MS = 60_000;

export interface BackoffPolicy {
  /** First delay (the table's initialBackoff, 1 s). */
  initialMs?: number;
  /** Cap on one delay (the table's maxBackoff, 120 s). */
  maximumMs?: number;
  /** Growth per failure (the table's backoffMultiplier, 1.6). */
  multiplier?: number;
  /** Each delay is spread by +- this fraction (0.2). */
  jitter?: number;
  /** Time failing in a row before giving up (60 s; null: never); a success resets it. */
  giveUpAfterMs?: number | null;
}

export type ResolvedBackoff = Required<BackoffPolicy>;

export function resolveBackoff(policy: BackoffPolicy = {}): ResolvedBackoff {
  const table = retryPolicy('WatchExecution');
  return {
    initialMs: policy.initialMs ?? table.initialMs,
    maximumMs: policy.maximumMs ?? table.maximumMs,
    multiplier: policy.multiplier ?? table.multiplier,
    jitter: policy.jitter ?? JITTER,
    giveUpAfterMs: policy.giveUpAfterMs === undefined ? DEFAULT_GIVE_UP_AFTER_MS : policy.giveUpAfterMs,
  };
}

/** Milliseconds to wait after `failures` failures in a row (1 for the first). */
export function backoffDelayMs(policy: ResolvedBackoff, failures: number): number {
  const ceiling = Math.min(
    policy.maximumMs,
    policy.initialMs * policy.multiplier ** Math.max(0, failures - 1),
  );
  return ceiling * (1 - policy.jitter + Math.random() * 2 * policy.jitter);
}

/** One run of consecutive failures. */
export class Attempts {
  readonly policy: ResolvedBackoff;
  failures = 0;
  private firstFailure: number | null = null;

  constructor(policy: BackoffPolicy = {}) {
    this.policy = resolveBackoff(policy);
  }

  reset(): void {
    this.failures = 0;
    this.firstFailure = null;
  }

  /** Milliseconds to wait before the next try (at least `atLeastMs`, a wait the server asked
   * for), or null when the budget is spent. */
  nextDelayMs(atLeastMs = 0): number | null {
    const now = performance.now();
    this.firstFailure ??= now;
    const spent = now - this.firstFailure;
    const budget = this.policy.giveUpAfterMs;
    if (budget !== null && spent >= budget) return null;
    this.failures += 1;
    const delay = Math.max(backoffDelayMs(this.policy, this.failures), atLeastMs);
    return budget === null ? delay : Math.min(delay, budget - spent);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
