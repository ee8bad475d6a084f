/**
 * The page's fold of live events into task rows, between two snapshots.
 *
 * It mirrors the server's fold for what the page shows (status, backend, model, labels,
 * usage, cost, error); GetSnapshot stays the authority: a task's row is replaced by the
 * snapshot's whenever the snapshot is as recent, and an event at or below a row's
 * last_revision is never applied twice.
 */

import { create } from "@bufbuild/protobuf";
import {
  CostBreakdownSchema,
  Outcome,
  TaskCostSchema,
  TaskStatus,
  UsageSchema,
  type CostBreakdown,
  type ExecutionEvent,
  type TaskCost,
  type Usage,
} from "./gen/execstream/v1/events_pb";
import { TaskStateSchema, type TaskState } from "./gen/execstream/v1/state_pb";
import { interimEffect, liveCost, setInterim } from "./interim";

const OUTCOME_STATUS: Record<Outcome, TaskStatus> = {
  [Outcome.UNSPECIFIED]: TaskStatus.UNSPECIFIED,
  [Outcome.SUCCEEDED]: TaskStatus.SUCCEEDED,
  [Outcome.FAILED]: TaskStatus.FAILED,
  [Outcome.CANCELLED]: TaskStatus.CANCELLED,
};

export function newTask(event: ExecutionEvent): TaskState {
  return create(TaskStateSchema, {
    taskId: event.taskId,
    sidecarId: event.sidecarId,
    status: TaskStatus.PENDING,
    createdTime: event.time,
    attempt: 1,
  });
}

export function addUsage(into: TaskState, usage: Usage | undefined): void {
  if (!usage) return;
  const sum = into.usage ?? create(UsageSchema);
  sum.inputTokens += usage.inputTokens;
  sum.cacheReadTokens += usage.cacheReadTokens;
  sum.cacheWriteTokens += usage.cacheWriteTokens;
  sum.cacheWriteOneHourTokens += usage.cacheWriteOneHourTokens;
  sum.outputTokens += usage.outputTokens;
  sum.reasoningTokens += usage.reasoningTokens;
  sum.estimated ||= usage.estimated;
  into.usage = sum;
}

function addBreakdown(into: CostBreakdown | undefined, more: CostBreakdown | undefined): CostBreakdown {
  const sum = into ?? create(CostBreakdownSchema);
  if (!more) return sum;
  sum.inputNanos += more.inputNanos;
  sum.cacheReadNanos += more.cacheReadNanos;
  sum.cacheWriteNanos += more.cacheWriteNanos;
  sum.outputNanos += more.outputNanos;
  sum.totalNanos += more.totalNanos;
  return sum;
}

export function addCost(into: TaskState, cost: TaskCost | undefined): void {
  if (!cost) return;
  const sum = into.cost ?? create(TaskCostSchema);
  sum.actual = addBreakdown(sum.actual, cost.actual);
  sum.reference = addBreakdown(sum.reference, cost.reference);
  sum.savingsNanos += cost.savingsNanos;
  sum.unpriced ||= cost.unpriced;
  sum.estimated ||= cost.estimated;
  sum.local = cost.local;
  sum.priceEntry = cost.priceEntry || sum.priceEntry;
  sum.pricingVersion = cost.pricingVersion || sum.pricingVersion;
  sum.referenceModel = cost.referenceModel || sum.referenceModel;
  into.cost = sum;
}

/** Apply one event to its task's state (the caller checks revision order). */
export function applyEvent(task: TaskState, event: ExecutionEvent): void {
  if (event.seq) task.lastSeq = event.seq; // the server's own events (seq 0) leave it
  const change = interimEffect(task.interim?.attempt ?? 0, event);
  if (change === "settle") {
    addUsage(task, task.interim?.usage);
    addCost(task, task.interim?.cost);
  }
  if (change !== "keep") task.interim = undefined;
  task.lastRevision = event.revision;
  task.eventCount += 1n;
  task.updatedTime = event.time;
  if (event.attempt > task.attempt) task.attempt = event.attempt;
  const body = event.body;
  switch (body.case) {
    case "started":
      task.backend = body.value.backend;
      task.model = body.value.model;
      task.labels = { ...body.value.labels };
      task.description = body.value.description;
      task.startedTime = event.time;
      task.status = TaskStatus.RUNNING;
      break;
    case "token":
    case "stdout":
    case "stderr":
    case "toolCall":
      if (task.status === TaskStatus.PENDING) task.status = TaskStatus.RUNNING;
      break;
    case "status":
      task.status = body.value.status;
      task.statusMessage = body.value.message;
      addUsage(task, body.value.usage);
      addCost(task, body.value.cost);
      break;
    case "error":
      task.error = body.value.message;
      task.errorCode = body.value.code;
      addUsage(task, body.value.usage);
      addCost(task, body.value.cost);
      break;
    case "finished":
      task.status = OUTCOME_STATUS[body.value.outcome] ?? TaskStatus.UNSPECIFIED;
      task.finishedTime = event.time;
      if (body.value.error) task.error = body.value.error;
      if (body.value.exitCode !== undefined) task.exitCode = body.value.exitCode;
      addUsage(task, body.value.usage);
      if (!task.model && body.value.usage?.model) task.model = body.value.usage.model;
      // The finished event carries the task's whole cost (all attempts): it replaces the sum.
      if (body.value.cost) task.cost = body.value.cost;
      break;
    case "usage":
      setInterim(task, event);
      break;
    default:
      break; // a kind this page does not know yet: its state comes with the next snapshot
  }
}

/** A task's cost as the page shows it: settled attempts plus the running one's interim. */
export function shownCost(task: TaskState): TaskCost | undefined {
  return liveCost(task, addCost);
}

/** Whether an event can change a task's cost or state beyond its output. */
export function changesCost(event: ExecutionEvent): boolean {
  const kind = event.body.case;
  return kind !== "token" && kind !== "stdout" && kind !== "stderr";
}
