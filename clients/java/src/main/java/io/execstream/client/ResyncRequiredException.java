package io.execstream.client;

/**
 * A watch cannot resume where it stood: the revision it would resume after was compacted
 * away (REVISION_COMPACTED), does not exist in this log (REVISION_IN_FUTURE), or the log was
 * replaced (its log_id changed). Re-list with GetSnapshot, then watch from the snapshot's
 * revision.
 */
public final class ResyncRequiredException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final long afterRevision;
  private final String oldLogId;
  private final String newLogId;

  ResyncRequiredException(long afterRevision, String oldLogId, ExecstreamException refusal) {
    super("cannot resume after revision " + afterRevision + ": " + refusal.getMessage()
        + ": re-list with GetSnapshot", refusal);
    this.afterRevision = afterRevision;
    this.oldLogId = oldLogId;
    this.newLogId = "";
  }

  ResyncRequiredException(long afterRevision, String oldLogId, String newLogId) {
    super("the log changed (" + newLogId + ", was " + oldLogId + "): re-list with GetSnapshot");
    this.afterRevision = afterRevision;
    this.oldLogId = oldLogId;
    this.newLogId = newLogId;
  }

  /** The revision the watch tried to resume after. */
  public long afterRevision() {
    return afterRevision;
  }

  /** The log the watch was following ("" if it had not heard yet). */
  public String oldLogId() {
    return oldLogId;
  }

  /** The new log's identity when the log changed; "" otherwise. */
  public String newLogId() {
    return newLogId;
  }

  /** The server's refusal, or null when the log identity changed. */
  public ExecstreamException refusal() {
    return (ExecstreamException) getCause();
  }
}
