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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/** The steps of the scenario, sharing one reporter, the running watches and the result. */
final class Steps {
  private final ExecstreamClient client;
  private final String sidecarId;
  private final BufferedReader stdin;
  private final Reporter reporter;
  private final Map<String, BackgroundWatch> watches = new HashMap<>();
  private final JsonObject watched = new JsonObject();
  private final JsonObject relists = new JsonObject();
  private final JsonObject snapshots = new JsonObject();
  private final JsonObject sends = new JsonObject();
  private final JsonObject reportErrors = new JsonObject();
  private final JsonObject watchErrors = new JsonObject();
  /** A report step that did not wait for its flush: await_flush does. */
  private CompletableFuture<Void> flushing;

  Steps(ExecstreamClient client, String sidecarId, BufferedReader stdin) {
    this.client = client;
    this.sidecarId = sidecarId;
    this.stdin = stdin;
    this.reporter = client.reporter(sidecarId);
  }

  JsonObject result() {
    JsonObject result = new JsonObject();
    result.add("watches", watched);
    result.add("relists", relists);
    result.add("snapshots", snapshots);
    result.add("sends", sends);
    result.add("report_errors", reportErrors);
    result.add("watch_errors", watchErrors);
    return result;
  }

  void play(int index, JsonObject step) throws Exception {
    switch (step.get("op").getAsString()) {
      case "watch" -> {
        Watch watch = client.watch(options(step));
        watch.start(); // the start point is known before the next step
        boolean relist = step.has("relist") && step.get("relist").getAsBoolean();
        watches.put(step.get("name").getAsString(), new BackgroundWatch(client, watch, relist));
      }
      case "report" -> report(step);
      case "await_flush" -> awaitFlush();
      case "report_error" -> reportErrors.add(step.get("name").getAsString(), reportError(step));
      case "await_events" -> watches.get(step.get("watch").getAsString()).waitFor(step.get("count").getAsInt());
      case "await_relist" ->
          watches.get(step.get("watch").getAsString()).waitForRelists(step.get("count").getAsInt());
      case "collect" -> {
        String name = step.get("watch").getAsString();
        BackgroundWatch background = watches.remove(name);
        background.waitFor(step.get("count").getAsInt());
        watched.add(name, background.stop());
        if (background.relists()) {
          relists.add(name, background.relisted());
        }
      }
      case "kill", "start" -> awaitHarness(index);
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

  /** Queues on the one reporter and flushes, or leaves the flush running (await_flush). */
  private void report(JsonObject step) throws InvalidProtocolBufferException {
    Task task = reporter.task(step.get("task_id").getAsString()); // numbering continues
    for (JsonElement raw : step.getAsJsonArray("events")) {
      task.send(event(raw));
    }
    if (!step.has("wait") || step.get("wait").getAsBoolean()) {
      reporter.flush();
    } else {
      flushing = CompletableFuture.runAsync(reporter::flush);
    }
  }

  private void awaitFlush() throws InterruptedException {
    if (flushing == null) {
      throw new IllegalStateException("no report is flushing");
    }
    try {
      flushing.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException failure) {
        throw failure;
      }
      throw new IllegalStateException(e.getCause());
    } finally {
      flushing = null;
    }
  }

  /** Reports through the reporter and keeps the refusal it expects. */
  private JsonObject reportError(JsonObject step) throws InvalidProtocolBufferException {
    JsonObject outcome = new JsonObject();
    try {
      report(step);
      outcome.addProperty("response", "committed");
    } catch (ExecstreamException refused) {
      outcome.add("error", error(refused));
    }
    return outcome;
  }

  /** A send's events: the fill ({@code count} copies of {@code event}, seqs from 1), then events. */
  private static List<ExecutionEvent> sendEvents(JsonObject step) throws InvalidProtocolBufferException {
    List<ExecutionEvent> events = new ArrayList<>();
    if (step.has("fill")) {
      JsonObject fill = step.getAsJsonObject("fill");
      String taskId = fill.get("task_id").getAsString();
      for (int seq = 1; seq <= fill.get("count").getAsInt(); seq++) {
        events.add(event(fill.get("event")).setTaskId(taskId).setSeq(seq).build());
      }
    }
    for (JsonElement raw : step.getAsJsonArray("events")) {
      events.add(event(raw).build());
    }
    return events;
  }

  private JsonObject send(JsonObject step) throws InvalidProtocolBufferException {
    List<ExecutionEvent> events = sendEvents(step);
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

  /** Hands the step at {@code index} to the harness and blocks until it is done. */
  private void awaitHarness(int index) throws IOException {
    JsonObject line = new JsonObject();
    line.addProperty("step", "await_harness");
    line.addProperty("index", index);
    ConformanceRunner.emit(line);
    String answer = stdin.readLine();
    if (!"done".equals(answer)) {
      throw new IllegalStateException("expected 'done' on stdin, got " + answer);
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

  /** The protocol's ERROR: the typed error's code, ErrorInfo, BadRequest and what is committed. */
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
    refused.committed().ifPresent(committed -> error.add("committed", message(committed)));
    return error;
  }
}
