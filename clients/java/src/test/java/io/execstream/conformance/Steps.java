package io.execstream.conformance;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import com.google.rpc.BadRequest;
import io.execstream.client.ExecstreamClient;
import io.execstream.client.ExecstreamException;
import io.execstream.client.Reporter;
import io.execstream.client.ResyncRequiredException;
import io.execstream.client.Task;
import io.execstream.client.Watch;
import io.execstream.client.WatchOptions;
import io.execstream.v1.ExecutionEvent;
import io.execstream.v1.GetSnapshotRequest;
import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The steps of the scenario, sharing one reporter, the running watches and the result. */
final class Steps {
  private final ExecstreamClient client;
  private final String sidecarId;
  private final BufferedReader stdin;
  private final Reporter reporter;
  private final Map<String, BackgroundWatch> watches = new HashMap<>();
  private final JsonObject watched = new JsonObject();
  private final JsonObject snapshots = new JsonObject();
  private final JsonObject sends = new JsonObject();
  private final JsonObject watchErrors = new JsonObject();

  Steps(ExecstreamClient client, String sidecarId, BufferedReader stdin) {
    this.client = client;
    this.sidecarId = sidecarId;
    this.stdin = stdin;
    this.reporter = client.reporter(sidecarId);
  }

  JsonObject result() {
    JsonObject result = new JsonObject();
    result.add("watches", watched);
    result.add("snapshots", snapshots);
    result.add("sends", sends);
    result.add("watch_errors", watchErrors);
    return result;
  }

  void play(JsonObject step) throws Exception {
    switch (step.get("op").getAsString()) {
      case "watch" -> {
        Watch watch = client.watch(options(step));
        watch.start(); // the start point is known before the next step
        watches.put(step.get("name").getAsString(), new BackgroundWatch(watch));
      }
      case "report" -> report(step);
      case "await_events" -> watches.get(step.get("watch").getAsString()).waitFor(step.get("count").getAsInt());
      case "collect" -> {
        BackgroundWatch background = watches.remove(step.get("watch").getAsString());
        background.waitFor(step.get("count").getAsInt());
        watched.add(step.get("watch").getAsString(), background.stop());
      }
      case "restart" -> awaitRestart();
      case "snapshot" -> {
        GetSnapshotRequest.Builder request = GetSnapshotRequest.newBuilder();
        step.getAsJsonArray("task_ids").forEach(id -> request.addTaskIds(id.getAsString()));
        snapshots.add(step.get("name").getAsString(), message(client.snapshot(request.build())));
      }
      case "send" -> sends.add(step.get("name").getAsString(), send(step));
      case "watch_error" -> watchErrors.add(step.get("name").getAsString(), watchError(step));
      default -> throw new IllegalArgumentException("unknown op " + step.get("op"));
    }
  }

  void stopWatches() {
    watches.values().forEach(BackgroundWatch::stop);
  }

  private void report(JsonObject step) throws InvalidProtocolBufferException {
    Task task = reporter.task(step.get("task_id").getAsString()); // numbering continues
    for (JsonElement raw : step.getAsJsonArray("events")) {
      task.send(event(raw));
    }
    reporter.flush();
  }

  private JsonObject send(JsonObject step) throws InvalidProtocolBufferException {
    List<ExecutionEvent> events = new ArrayList<>();
    for (JsonElement raw : step.getAsJsonArray("events")) {
      events.add(event(raw).build());
    }
    JsonObject outcome = new JsonObject();
    try {
      outcome.add("response", message(client.report(sidecarId, events)));
    } catch (ExecstreamException refused) {
      outcome.add("error", error(refused));
    }
    return outcome;
  }

  /** Watches with no re-list handler and expects the client's typed error. */
  private JsonObject watchError(JsonObject step) {
    JsonObject outcome = new JsonObject();
    try (Watch watch = client.watch(options(step))) {
      watch.next();
      outcome.addProperty("response", "no error");
    } catch (ResyncRequiredException resync) {
      if (resync.refusal() == null) {
        JsonObject error = new JsonObject();
        error.addProperty("code", "");
        error.addProperty("reason", "LOG_CHANGED");
        outcome.add("error", error);
      } else {
        outcome.add("error", error(resync.refusal()));
      }
    } catch (ExecstreamException refused) {
      outcome.add("error", error(refused));
    }
    return outcome;
  }

  private void awaitRestart() throws IOException {
    JsonObject line = new JsonObject();
    line.addProperty("step", "await_restart");
    ConformanceRunner.emit(line);
    String answer = stdin.readLine();
    if (!"restarted".equals(answer)) {
      throw new IllegalStateException("expected 'restarted' on stdin, got " + answer);
    }
  }

  private static WatchOptions options(JsonObject step) {
    WatchOptions options = WatchOptions.live();
    if (step.has("after_revision")) {
      options = options.withAfterRevision(step.get("after_revision").getAsLong());
    }
    return options;
  }

  private static ExecutionEvent.Builder event(JsonElement raw) throws InvalidProtocolBufferException {
    ExecutionEvent.Builder event = ExecutionEvent.newBuilder();
    JsonFormat.parser().merge(ConformanceRunner.GSON.toJson(raw), event);
    return event;
  }

  /** m in canonical proto3 JSON (JsonFormat's defaults), as a value to embed. */
  static JsonElement message(MessageOrBuilder m) {
    try {
      return JsonParser.parseString(JsonFormat.printer().print(m));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The protocol's ERROR: the typed error's code, ErrorInfo and BadRequest. */
  static JsonObject error(ExecstreamException refused) {
    JsonObject error = new JsonObject();
    error.addProperty("code", refused.codeName());
    error.addProperty("reason", refused.reasonName());
    error.addProperty("domain", refused.domain());
    JsonObject metadata = new JsonObject();
    refused.metadata().forEach(metadata::addProperty);
    error.add("metadata", metadata);
    JsonArray violations = new JsonArray();
    for (BadRequest.FieldViolation violation : refused.violations()) {
      JsonObject item = new JsonObject();
      item.addProperty("field", violation.getField());
      item.addProperty("description", violation.getDescription());
      violations.add(item);
    }
    error.add("fieldViolations", violations);
    return error;
  }
}
