package io.execstream.conformance;

import com.google.gson.JsonArray;
import io.execstream.client.ExecstreamClient;
import io.execstream.client.ResyncRequiredException;
import io.execstream.client.Watch;
import io.execstream.client.WatchOptions;
import io.execstream.v1.GetSnapshotRequest;
import io.execstream.v1.Snapshot;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * Consumes a watch in its own thread and keeps what it delivered.
 *
 * <p>With re-lists, a watch that cannot resume (the client's ResyncRequiredException: another
 * log, a compacted or future resume point) is continued as the Java client documents it: a
 * snapshot through the client, kept, then a new watch from its revision on its log.
 */
final class BackgroundWatch {
  private final ExecstreamClient client;
  private final boolean relists;
  private final Thread consumer;
  private final JsonArray events = new JsonArray();
  private final JsonArray snapshots = new JsonArray();
  private Watch watch;
  private boolean stopped;
  private RuntimeException failure;
  private boolean ended;

  BackgroundWatch(ExecstreamClient client, Watch watch, boolean relists) {
    this.client = client;
    this.watch = watch;
    this.relists = relists;
    this.consumer = new Thread(this::consume, "watch");
    consumer.setDaemon(true);
    consumer.start();
  }

  private synchronized Watch current() {
    return watch;
  }

  private void consume() {
    try {
      while (true) {
        try {
          var event = Steps.message(current().next());
          synchronized (this) {
            events.add(event);
            notifyAll();
          }
        } catch (ResyncRequiredException resync) {
          if (!relists) {
            throw resync;
          }
          relist();
        }
      }
    } catch (CancellationException stopped) {
      end(null);
    } catch (RuntimeException e) {
      end(e);
    }
  }

  /** Takes a snapshot and continues with a watch from its revision, on its log. */
  private void relist() {
    Snapshot snapshot = client.snapshot(GetSnapshotRequest.getDefaultInstance());
    Watch next = client.watch(
        WatchOptions.live().withAfterRevision(snapshot.getRevision()).withLogId(snapshot.getLogId()));
    synchronized (this) {
      watch.close();
      watch = next;
      snapshots.add(Steps.message(snapshot));
      notifyAll();
      if (stopped) {
        next.close();
      }
    }
  }

  private synchronized void end(RuntimeException error) {
    failure = error;
    ended = true;
    notifyAll();
  }

  /** Does this watch re-list when it cannot resume? */
  boolean relists() {
    return relists;
  }

  /** Returns once count events were delivered, or throws the watch's own error. */
  void waitFor(int count) throws InterruptedException {
    waitUntil(() -> events.size() >= count);
  }

  /** Returns once the watch re-listed count times, or throws the watch's own error. */
  void waitForRelists(int count) throws InterruptedException {
    waitUntil(() -> snapshots.size() >= count);
  }

  private synchronized void waitUntil(BooleanSupplier done) throws InterruptedException {
    while (!done.getAsBoolean()) {
      if (failure != null) {
        throw failure;
      }
      if (ended) {
        throw new IllegalStateException("the watch ended");
      }
      wait();
    }
  }

  /** Ends the watch and returns every event it delivered. */
  JsonArray stop() {
    synchronized (this) {
      stopped = true;
      watch.close();
    }
    try {
      consumer.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    synchronized (this) {
      return events.deepCopy();
    }
  }

  /** Every snapshot the watch re-listed with. */
  synchronized JsonArray relisted() {
    return snapshots.deepCopy();
  }
}
