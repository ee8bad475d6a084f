package io.execstream.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.execstream.client.ConnectOptions;
import io.execstream.client.TestServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
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

  private static List<String> trimmedLines(String text) {
    List<String> lines = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (!line.isBlank()) {
        lines.add(line.strip());
      }
    }
    return lines;
  }

  /** Each java snippet of docs/clients-java.md is a verbatim part of a compiled example. */
  @Test
  void everySnippetOfTheDocsIsCompiled() throws IOException {
    String doc = Files.readString(Path.of("../../docs/clients-java.md"));
    List<List<String>> sources = new ArrayList<>();
    for (String name : List.of("Quickstart.java", "ListThenWatch.java")) {
      sources.add(trimmedLines(Files.readString(Path.of("src/test/java/io/execstream/examples", name))));
    }
    String[] blocks = doc.split("```java\n");
    assertTrue(blocks.length > 1, "no java snippet in docs/clients-java.md");
    for (int i = 1; i < blocks.length; i++) {
      List<String> snippet = trimmedLines(blocks[i].substring(0, blocks[i].indexOf("\n```")));
      boolean found = sources.stream().anyMatch(source -> Collections.indexOfSubList(source, snippet) >= 0);
      assertTrue(found, "this snippet of docs/clients-java.md is in no compiled file:\n" + String.join("\n", snippet));
    }
  }
}
