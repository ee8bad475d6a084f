package io.execstream.conformance;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.execstream.client.ConnectOptions;
import io.execstream.client.ExecstreamClient;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Plays tests/conformance/scenario.json through the Java client and prints the result, as
 * tests/conformance/README.md (the runner protocol) describes:
 *
 * <pre>ConformanceRunner --target 127.0.0.1:PORT --scenario PATH --token TOKEN</pre>
 *
 * Everything the scenario checks goes through io.execstream.client: the reporter numbers and
 * commits, the watches resume by themselves, the errors come decoded.
 */
public final class ConformanceRunner {
  static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

  private ConformanceRunner() {}

  public static void main(String[] args) {
    Map<String, String> flags = flags(args);
    JsonObject result;
    try {
      result = run(flags.get("--target"), Path.of(flags.get("--scenario")), flags.getOrDefault("--token", ""));
    } catch (Exception e) {
      JsonObject error = new JsonObject();
      error.addProperty("error", e.getClass().getSimpleName() + ": " + e.getMessage());
      emit(error);
      System.exit(1);
      return;
    }
    JsonObject line = new JsonObject();
    line.add("result", result);
    emit(line);
    System.exit(0); // grpc-java's threads must not keep the process alive
  }

  static void emit(JsonElement line) {
    System.out.println(GSON.toJson(line));
    System.out.flush();
  }

  static JsonObject run(String target, Path scenarioPath, String token) throws Exception {
    JsonObject scenario = JsonParser.parseString(Files.readString(scenarioPath)).getAsJsonObject();
    long timeoutSeconds = scenario.get("timeout_seconds").getAsLong();
    BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    ExecutorService steps = Executors.newSingleThreadExecutor();
    try (ExecstreamClient client = new ExecstreamClient(ConnectOptions.of(target, token))) {
      Steps runner = new Steps(client, scenario.get("sidecar_id").getAsString(), stdin);
      int number = 0;
      for (JsonElement element : scenario.getAsJsonArray("steps")) {
        number++;
        JsonObject step = element.getAsJsonObject();
        String op = step.get("op").getAsString();
        int index = number - 1;
        Future<?> played = steps.submit(() -> {
          runner.play(index, step);
          return null;
        });
        try {
          played.get(timeoutSeconds, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
          throw new IllegalStateException("step " + number + " (" + op + ") took over " + timeoutSeconds + " s");
        } catch (ExecutionException e) {
          throw new IllegalStateException("step " + number + " (" + op + "): " + e.getCause(), e.getCause());
        }
        JsonObject line = new JsonObject();
        line.addProperty("step", op);
        if (step.has("name")) {
          line.add("name", step.get("name"));
        }
        emit(line);
      }
      runner.stopWatches();
      return runner.result();
    } finally {
      steps.shutdownNow();
    }
  }

  private static Map<String, String> flags(String[] args) {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      flags.put(args[i], args[i + 1]);
    }
    for (String required : new String[] {"--target", "--scenario"}) {
      if (!flags.containsKey(required)) {
        throw new IllegalArgumentException("usage: ConformanceRunner --target HOST:PORT --scenario PATH --token TOKEN");
      }
    }
    return flags;
  }
}
