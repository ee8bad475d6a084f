package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.execstream.v1.ErrorReason;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.GetSnapshotRequest;
import io.execstream.v1.OutputChunk;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rules every execstream client shares (docs/api.md, Retrying), as this client follows
 * them: a snapshot page is retried by its own loop, a single report is one message in one
 * call, never retried (the channel leaves grpc-java's retries off).
 */
class RulesServerTest {
  @TempDir Path directory;
  private TestServer server;
  private ExecstreamClient client;

  @BeforeEach
  void start() {
    server = TestServer.start(directory);
    client = new ExecstreamClient(ConnectOptions.of(server.address(), ""));
  }

  @AfterEach
  void stop() {
    client.close();
    server.close();
  }

  private static ExecutionEvent stdout(String taskId, long seq) {
    return ExecutionEvent.newBuilder().setTaskId(taskId).setSeq(seq)
        .setStdout(OutputChunk.newBuilder().setText(taskId + " " + seq + "\n")).build();
  }

  private int stored(String taskId) {
    return client.snapshot(GetSnapshotRequest.newBuilder().addTaskIds(taskId).build()).getTasksCount();
  }

  @Test
  void aSnapshotPageIsRetriedAfterALostConnection() throws Exception {
    client.report("java-rules", List.of(stdout("java-snap", 1)));
    try (CutFirstProxy proxy = new CutFirstProxy(server.address());
        ExecstreamClient through = new ExecstreamClient(ConnectOptions.of(proxy.address(), ""))) {
      int tasks = through.snapshot(
          GetSnapshotRequest.newBuilder().addTaskIds("java-snap").build()).getTasksCount();
      assertEquals(1, proxy.cuts());
      assertEquals(1, tasks);
    }
  }

  @Test
  void aSingleReportIsOneCallNeverRetried() throws Exception {
    try (CutFirstProxy proxy = new CutFirstProxy(server.address());
        ExecstreamClient through = new ExecstreamClient(ConnectOptions.of(proxy.address(), ""))) {
      ExecstreamException lost = assertThrows(ExecstreamException.class,
          () -> through.report("java-rules", List.of(stdout("java-once", 1))));
      assertEquals(Status.Code.UNAVAILABLE, lost.code());
    }
    assertEquals(0, stored("java-once"), "nothing was resent");
  }

  @Test
  void aSingleReportIsAllOrNothing() {
    List<ExecutionEvent> events = new ArrayList<>();
    for (long seq = 1; seq <= 1200; seq++) {
      events.add(stdout("java-batch", seq));
    }
    events.add(stdout("java-batch", 1202)); // a gap: the report is refused
    ExecstreamException refused = assertThrows(ExecstreamException.class,
        () -> client.report("java-rules", events));
    assertEquals(ErrorReason.SEQ_GAP, refused.reason());
    assertEquals(0, stored("java-batch"), "nothing of the refused report is stored");
  }

  /**
   * Closes its first connection at once, then forwards to the server: a client's first call
   * through it fails as a lost connection does (UNAVAILABLE, no ErrorInfo).
   */
  private static final class CutFirstProxy implements AutoCloseable {
    private final ServerSocket listener;
    private final AtomicInteger cuts = new AtomicInteger();

    CutFirstProxy(String target) throws IOException {
      listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      int port = Integer.parseInt(target.substring(target.lastIndexOf(':') + 1));
      Thread acceptor = new Thread(() -> accept(port), "cut-first-proxy");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    String address() {
      return "127.0.0.1:" + listener.getLocalPort();
    }

    int cuts() {
      return cuts.get();
    }

    private void accept(int port) {
      try {
        while (true) {
          Socket client = listener.accept();
          if (cuts.get() == 0) {
            cuts.incrementAndGet();
            client.close();
            continue;
          }
          Socket upstream = new Socket(InetAddress.getLoopbackAddress(), port);
          pipe(client, upstream);
          pipe(upstream, client);
        }
      } catch (IOException closed) {
        // the proxy was closed
      }
    }

    private static void pipe(Socket from, Socket to) {
      Thread copier = new Thread(() -> {
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
          in.transferTo(out);
        } catch (IOException ended) {
          // either side went away
        } finally {
          closeQuietly(from);
          closeQuietly(to);
        }
      }, "cut-first-proxy-pipe");
      copier.setDaemon(true);
      copier.start();
    }

    private static void closeQuietly(Socket socket) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // already closed
      }
    }

    @Override
    public void close() {
      try {
        listener.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
