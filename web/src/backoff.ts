/**
 * Reconnect delays from the service config beside the protos (the one table every client
 * reads): exponential from initialBackoff by backoffMultiplier up to maxBackoff, ±20 %.
 */

import serviceConfig from "../../protos/execstream/v1/service_config.json";

interface RetryPolicy {
  initialBackoff: string;
  maxBackoff: string;
  backoffMultiplier: number;
}

function seconds(duration: string): number {
  return Number.parseFloat(duration.replace(/s$/, ""));
}

function watchPolicy(): RetryPolicy {
  for (const method of serviceConfig.methodConfig) {
    if (method.name.some((name) => name.method === "WatchExecution") && method.retryPolicy) {
      return method.retryPolicy;
    }
  }
  return { initialBackoff: "1s", maxBackoff: "120s", backoffMultiplier: 1.6 };
}

export class Backoff {
  private attempt = 0;
  private readonly policy = watchPolicy();

  /** The delay before the next attempt, in milliseconds. */
  next(): number {
    const { initialBackoff, maxBackoff, backoffMultiplier } = this.policy;
    const base = Math.min(
      seconds(initialBackoff) * backoffMultiplier ** this.attempt,
      seconds(maxBackoff),
    );
    this.attempt += 1;
    const jitter = 1 + (Math.random() * 0.4 - 0.2);
    return Math.round(base * jitter * 1000);
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Wait `ms`, or less if `signal` aborts (then resolves early). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
