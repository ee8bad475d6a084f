package io.execstream.client;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Paces reconnects after consecutive failures by a retry policy's backoff, with the full
 * jitter gRPC uses, and gives up {@code giveUpAfter} after the first failure of a run.
 */
final class Attempts {
  private final ServiceConfig.RetryPolicy policy;
  private final Duration giveUpAfter;
  private int failures;
  private long firstFailedNanos;

  Attempts(ServiceConfig.RetryPolicy policy, Duration giveUpAfter) {
    this.policy = policy;
    this.giveUpAfter = giveUpAfter;
  }

  ServiceConfig.RetryPolicy policy() {
    return policy;
  }

  /** Called on every sign of a healthy stream. */
  void reset() {
    failures = 0;
  }

  /**
   * Sleeps before the next attempt, or throws {@code cause} once the budget is spent, or
   * {@link CancellationException} when {@code closed} opens first.
   */
  void await(RuntimeException cause, CountDownLatch closed) {
    long now = System.nanoTime();
    if (failures == 0) {
      firstFailedNanos = now;
    }
    if (now - firstFailedNanos >= giveUpAfter.toNanos()) {
      throw new ExecstreamGaveUpException(giveUpAfter, cause);
    }
    long bound = policy.backoff(failures).toNanos();
    failures++;
    long delay = ThreadLocalRandom.current().nextLong(bound + 1);
    try {
      if (closed.await(delay, TimeUnit.NANOSECONDS)) {
        throw new CancellationException("closed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancellationException("interrupted");
    }
  }
}
