package io.execstream.examples;

import io.execstream.client.ExecstreamClient;
import io.execstream.client.Watch;
import io.execstream.client.WatchOptions;
import io.execstream.v1.GetSnapshotRequest;
import io.execstream.v1.Snapshot;

/** List, then watch: a snippet of docs/clients-java.md, compiled here and checked there. */
final class ListThenWatch {
  private ListThenWatch() {}

  static Watch listThenWatch(ExecstreamClient client) {
    Snapshot snapshot = client.snapshot(GetSnapshotRequest.getDefaultInstance());
    // ... use snapshot.getTasksList() ...
    Watch watch = client.watch(
        WatchOptions.after(snapshot.getRevision()).withLogId(snapshot.getLogId()));
    return watch;
  }
}
