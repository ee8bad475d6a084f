package io.execstream.client;

import io.execstream.v1.EventKind;
import io.execstream.v1.Progress;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * What to watch and from where.
 *
 * @param taskIds only these tasks (empty: all)
 * @param sidecarIds only tasks of these sidecars (empty: all)
 * @param kinds only these kinds of event (empty: all)
 * @param afterRevision empty: live from now; a value replays every retained event after it
 *     (0: from the beginning), then continues live
 * @param logId the log the watch must be on (a snapshot's log_id, for list-then-watch): another
 *     log is a ResyncRequiredException from the first Progress; "" for any
 * @param giveUpAfter how long consecutive failed reconnects may last (negative: forever)
 * @param onProgress sees every Progress (opening, caught-up marker, heartbeats), or null
 */
public record WatchOptions(
    List<String> taskIds,
    List<String> sidecarIds,
    List<EventKind> kinds,
    OptionalLong afterRevision,
    String logId,
    Duration giveUpAfter,
    Consumer<Progress> onProgress) {
  /** The default reconnect budget. */
  public static final Duration DEFAULT_GIVE_UP_AFTER = Duration.ofSeconds(60);

  /** Every event, live from now. */
  public static WatchOptions live() {
    return new WatchOptions(
        List.of(), List.of(), List.of(), OptionalLong.empty(), "", DEFAULT_GIVE_UP_AFTER, null);
  }

  /** Every event after {@code revision}, then live. */
  public static WatchOptions after(long revision) {
    return live().withAfterRevision(revision);
  }

  /** The same, replaying after {@code revision}. */
  public WatchOptions withAfterRevision(long revision) {
    return new WatchOptions(
        taskIds, sidecarIds, kinds, OptionalLong.of(revision), logId, giveUpAfter, onProgress);
  }

  /** The same, for these tasks only. */
  public WatchOptions withTaskIds(List<String> ids) {
    return new WatchOptions(
        List.copyOf(ids), sidecarIds, kinds, afterRevision, logId, giveUpAfter, onProgress);
  }

  /** The same, calling {@code consumer} with every Progress. */
  public WatchOptions withOnProgress(Consumer<Progress> consumer) {
    return new WatchOptions(
        taskIds, sidecarIds, kinds, afterRevision, logId, giveUpAfter, consumer);
  }

  /** The same, with another reconnect budget. */
  public WatchOptions withGiveUpAfter(Duration budget) {
    return new WatchOptions(taskIds, sidecarIds, kinds, afterRevision, logId, budget, onProgress);
  }

  /** The same, on the log {@code id} only (a snapshot's log_id). */
  public WatchOptions withLogId(String id) {
    return new WatchOptions(taskIds, sidecarIds, kinds, afterRevision, id, giveUpAfter, onProgress);
  }
}
