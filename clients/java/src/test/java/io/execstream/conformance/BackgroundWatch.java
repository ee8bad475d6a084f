package io.execstream.conformance;

import com.google.gson.JsonArray;
import io.execstream.client.Watch;
import java.util.concurrent.CancellationException;

/** Consumes a watch in its own thread and keeps what it delivered. */
final class BackgroundWatch {
  private final Watch watch;
  private final Thread consumer;
  private final JsonArray events = new JsonArray();
  private RuntimeException failure;
  private boolean ended;

  BackgroundWatch(Watch watch) {
    this.watch = watch;
    this.consumer = new Thread(this::consume, "watch");
    consumer.setDaemon(true);
    consumer.start();
  }

  private void consume() {
    try {
      while (true) {
        var event = Steps.message(watch.next());
        synchronized (this) {
          events.add(event);
          notifyAll();
        }
      }
    } catch (CancellationException stopped) {
      end(null);
    } catch (RuntimeException e) {
      end(e);
    }
  }

  private synchronized void end(RuntimeException error) {
    failure = error;
    ended = true;
    notifyAll();
  }

  /** Returns once count events were delivered, or throws the watch's own error. */
  synchronized void waitFor(int count) throws InterruptedException {
    while (events.size() < count) {
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
    watch.close();
    try {
      consumer.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    synchronized (this) {
      return events.deepCopy();
    }
  }
}
