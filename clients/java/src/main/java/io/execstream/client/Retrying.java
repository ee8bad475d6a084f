package io.execstream.client;

import io.execstream.v1.ErrorReason;
import io.grpc.Status;
import java.util.OptionalLong;

/**
 * What to do after a failed call: the retry rules every execstream client implements alike
 * (docs/writing-a-client.md, "Retrying"). The codes and backoff come from the shared service
 * config; these rules depend on the ErrorInfo reason, which a service config cannot express:
 *
 * <ul>
 *   <li>a code the config lists for the method (UNAVAILABLE): try again after a backoff;
 *   <li>RESOURCE_EXHAUSTED with reason RATE_LIMITED or LIMIT_EXCEEDED: try again after a
 *       backoff, waiting at least the RetryInfo delay;
 *   <li>RESOURCE_EXHAUSTED with reason WATCHER_TOO_SLOW: resume the watch at once from its
 *       resume_revision;
 *   <li>RESOURCE_EXHAUSTED without a reason (gRPC's own "message too large"): never again;
 *   <li>OUT_OF_RANGE on a watch: re-list (a snapshot), never a blind retry;
 *   <li>CANCELLED: the helpers never decide about a call they cancelled themselves (they
 *       check for that first), so this is a stream reset under them: as UNAVAILABLE;
 *   <li>anything else: stop and throw.
 * </ul>
 */
final class Retrying {
  private Retrying() {}

  enum Action {
    RETRY, // after a backoff of at least the RetryInfo delay when atLeast
    RESUME, // a watch: reconnect now, from resumeRevision
    RELIST, // a watch: the resume point is gone
    STOP // throw: trying again cannot help
  }

  record Decision(Action action, boolean atLeast, OptionalLong resumeRevision) {
    static Decision of(Action action) {
      return new Decision(action, false, OptionalLong.empty());
    }
  }

  static Decision decide(ServiceConfig.RetryPolicy policy, String method, ExecstreamException refusal) {
    if (policy.retryable(refusal.code()) || refusal.code() == Status.Code.CANCELLED) {
      return Decision.of(Action.RETRY);
    }
    if (refusal.code() == Status.Code.RESOURCE_EXHAUSTED) {
      ErrorReason reason = refusal.reason();
      if (reason == ErrorReason.RATE_LIMITED || reason == ErrorReason.LIMIT_EXCEEDED) {
        return new Decision(Action.RETRY, true, OptionalLong.empty());
      }
      OptionalLong resume = refusal.metadataLong("resume_revision");
      if (reason == ErrorReason.WATCHER_TOO_SLOW && resume.isPresent()) {
        return new Decision(Action.RESUME, false, resume);
      }
    }
    if (refusal.code() == Status.Code.OUT_OF_RANGE && method.equals("WatchExecution")) {
      return Decision.of(Action.RELIST);
    }
    return Decision.of(Action.STOP);
  }
}
