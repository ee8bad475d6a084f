// Reconnect timing shared by watchers and reporters: exponential, jittered, with a budget.
// The same defaults as the Python client, so both languages behave alike after a restart.

/**
 * @typedef {object} BackoffPolicy
 * @property {number} [initialMs] first delay (50)
 * @property {number} [maximumMs] cap on one delay (2000)
 * @property {number} [multiplier] growth per failure (2)
 * @property {number | null} [giveUpAfterMs] time failing in a row before giving up (60000;
 *   null: never); a success resets it
 */

const DEFAULTS = Object.freeze({
  initialMs: 50,
  maximumMs: 2000,
  multiplier: 2,
  giveUpAfterMs: 60_000,
});

/** One run of consecutive failures; jitter spreads the reconnects of many clients. */
export class Attempts {
  /** @param {BackoffPolicy} [policy] */
  constructor(policy = {}) {
    this.policy = { ...DEFAULTS, ...policy };
    this.reset();
  }

  reset() {
    this.failures = 0;
    /** @type {number | null} */
    this.firstFailure = null;
  }

  /** Milliseconds to wait before the next try, or null when the budget is spent. */
  nextDelayMs() {
    const now = performance.now();
    this.firstFailure ??= now;
    const { initialMs, maximumMs, multiplier, giveUpAfterMs } = this.policy;
    const spent = now - this.firstFailure;
    if (giveUpAfterMs !== null && spent >= giveUpAfterMs) return null;
    const cap = Math.min(maximumMs, initialMs * multiplier ** this.failures);
    this.failures += 1;
    const delay = cap / 2 + Math.random() * (cap / 2);
    return giveUpAfterMs === null ? delay : Math.min(delay, giveUpAfterMs - spent);
  }
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
