package io.execstream.client;

import java.time.Duration;

/** Reconnecting failed for longer than the helper's budget; the cause is the last failure. */
public final class ExecstreamGaveUpException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  ExecstreamGaveUpException(Duration budget, RuntimeException lastFailure) {
    super("gave up after " + budget.toSeconds() + " s of failures: " + lastFailure.getMessage(),
        lastFailure);
  }
}
