package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.execstream.v1.GetSnapshotRequest;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TestServerTest {
  /**
   * Two test servers at once each get their own ports: neither may take a fixed one, such as
   * the dashboard's default 8080.
   */
  @Test
  void twoServersRunSideBySide(@TempDir Path first, @TempDir Path second) {
    try (TestServer one = TestServer.start(first);
        TestServer two = TestServer.start(second)) {
      for (TestServer server : new TestServer[] {one, two}) {
        try (ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(server.address(), ""))) {
          assertEquals(0, client.snapshot(GetSnapshotRequest.getDefaultInstance()).getTasksCount());
        }
      }
    }
  }
}
