package io.execstream.client;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Paces reconnects after consecutive failures by a retry policy's backoff (each wait spread
 * +-{@link #JITTER}, as gRPC's connection backoff does, so the clients of a restarted server
 * do not all come back at once), and gives up {@code giveUpAfter} after the first failure of
 * a run (a negative budget never gives up).
 */
final class Attempts {
  /** Each wait is spread by +-20 %. */
  static final double JITTER = 0.2;

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
   * Sleeps before the next attempt (at least {@code atLeast}, a wait the server asked for), or
   * throws {@code cause} once the budget is spent, or {@link CancellationException} when
   * {@code closed} opens first.
   */
  void await(RuntimeException cause, Duration atLeast, CountDownLatch closed) {
    long now = System.nanoTime();
    if (failures == 0) {
      firstFailedNanos = now;
    }
    long spent = now - firstFailedNanos;
    boolean bounded = !giveUpAfter.isNegative();
    if (bounded && spent >= giveUpAfter.toNanos()) {
      throw new ExecstreamGaveUpException(giveUpAfter, cause);
    }
    double jitter = 1 - JITTER + 2 * JITTER * ThreadLocalRandom.current().nextDouble();
    long delay = Math.max((long) (policy.backoff(failures).toNanos() * jitter), atLeast.toNanos());
    if (bounded) {
      delay = Math.min(delay, giveUpAfter.toNanos() - spent);
    }
    failures++;
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
