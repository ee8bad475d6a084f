package io.execstream.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code execstream serve} for the Java client's tests: a child process on a free
 * loopback port with its own SQLite file, which a test can kill -9 and restart on the same
 * port and store. EXECSTREAM_PYTHON names the interpreter that has execstream installed
 * (default python3).
 */
public final class TestServer implements AutoCloseable {
  private final Path directory;
  private final List<String> extra;
  private final int port;
  private int generation;
  private Process process;

  private TestServer(Path directory, List<String> extra) {
    this.directory = directory;
    this.extra = extra;
    this.port = freePort();
  }

  /** Starts a server with extra flags (e.g. "--pricing", path); close() kills it. */
  public static TestServer start(Path directory, String... extra) {
    TestServer server = new TestServer(directory, List.of(extra));
    server.launch();
    return server;
  }

  /** host:port. */
  public String address() {
    return "127.0.0.1:" + port;
  }

  /** SIGKILL, then wait for the process to go: a crash, not a shutdown. */
  public void kill() {
    if (process == null) {
      return;
    }
    process.destroyForcibly();
    try {
      process.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    process = null;
  }

  /** Kills the server and starts it again on the same port and store. */
  public void restart() {
    kill();
    launch();
  }

  /** Kills the server and starts it on a new, empty store: a log with another identity. */
  public void restartOnNewStore() {
    kill();
    generation++;
    launch();
  }

  @Override
  public void close() {
    kill();
  }

  private void launch() {
    String python = System.getenv().getOrDefault("EXECSTREAM_PYTHON", "python3");
    List<String> command = new ArrayList<>(List.of(python, "-m", "execstream", "serve",
        "--port", Integer.toString(port),
        "--db", directory.resolve("execstream-" + generation + ".db").toString(),
        "--metrics-port", "0", "--http-port", "0"));
    command.addAll(extra);
    Path log = directory.resolve("server.log");
    try {
      process = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("start " + python
          + " -m execstream serve (set EXECSTREAM_PYTHON to the interpreter with execstream)", e);
    }
    waitListening(Duration.ofSeconds(60), log);
  }

  private void waitListening(Duration timeout, Path log) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException("execstream serve exited before listening: " + lastLine(log));
      }
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
        return;
      } catch (IOException notYet) {
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
      }
    }
    throw new IllegalStateException("nothing listened on " + address() + ": " + lastLine(log));
  }

  private static String lastLine(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1);
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  private static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
