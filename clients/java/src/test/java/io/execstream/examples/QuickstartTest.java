package io.execstream.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.execstream.client.ConnectOptions;
import io.execstream.client.TestServer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class QuickstartTest {
  @TempDir Path directory;

  @Test
  void theQuickstartReportsAndWatchesItsTask() {
    try (TestServer server = TestServer.start(directory)) {
      assertEquals("Hello from Java.", Quickstart.run(ConnectOptions.of(server.address(), "")));
    }
  }
}
