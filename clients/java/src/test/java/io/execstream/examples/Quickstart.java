package io.execstream.examples;

import io.execstream.client.ConnectOptions;
import io.execstream.client.ExecstreamClient;
import io.execstream.client.ExecstreamException;
import io.execstream.client.Reporter;
import io.execstream.client.Task;
import io.execstream.client.Watch;
import io.execstream.client.WatchOptions;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.Finished;
import io.execstream.v1.Outcome;
import io.execstream.v1.Started;
import io.execstream.v1.Usage;
import java.util.List;

/**
 * Reports one task to an execstream server and watches it back. With {@code execstream
 * serve} on 127.0.0.1:50051 (or EXECSTREAM_TARGET set), from clients/java:
 *
 * <pre>mvn -q -o process-test-classes && scripts/run-example</pre>
 *
 * It is the Java section of docs/clients-java.md, compiled and run by CI.
 */
public final class Quickstart {
  private Quickstart() {}

  public static void main(String[] args) {
    try {
      run(ConnectOptions.fromEnv()); // EXECSTREAM_TARGET, EXECSTREAM_TOKEN, TLS
    } catch (ExecstreamException refused) { // the server's ErrorInfo, decoded
      System.err.println("quickstart: refused (" + refused.reasonName() + "): " + refused.metadata());
      System.exit(1);
    }
    System.exit(0);
  }

  static String run(ConnectOptions options) {
    // The shared service config (retry codes, backoff) comes with the client.
    try (ExecstreamClient client = new ExecstreamClient(options)) {
      // Report: each call numbers the task's next seq; flush returns once it is committed.
      String taskId = "java-quickstart-" + System.nanoTime();
      Reporter reporter = client.reporter("java-quickstart");
      Task task = reporter.task(taskId);
      task.started(Started.newBuilder().setBackend("anthropic").setModel("claude-haiku-4-5").build());
      task.token("Hello from ");
      task.token("Java.");
      task.finished(Finished.newBuilder()
          .setOutcome(Outcome.OUTCOME_SUCCEEDED)
          .setUsage(Usage.newBuilder()
              .setInputTokens(1200).setOutputTokens(40).setCacheWriteOneHourTokens(2048))
          .build());
      reporter.flush();

      // Watch it back from the start: resumes by itself, with no gap or duplicate.
      StringBuilder text = new StringBuilder();
      try (Watch watch = client.watch(WatchOptions.after(0).withTaskIds(List.of(taskId)))) {
        while (true) {
          ExecutionEvent event = watch.next();
          if (event.hasToken()) {
            text.append(event.getToken().getText());
          } else if (event.hasFinished()) {
            long cost = event.getFinished().getCost().getActual().getTotalNanos();
            System.out.println(text);
            System.out.println(taskId + " finished: " + event.getFinished().getOutcome()
                + ", cost " + cost + " nano-USD");
            return text.toString();
          }
        }
      }
    }
  }
}
