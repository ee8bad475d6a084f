/**
 * The live cost meter on the page: a running task's latest usage update (its interim).
 *
 * The same rule as the server's (domain/interim.py): a newer update of the same attempt,
 * or the attempt's final figure, replaces the interim; the end of the attempt without a
 * final figure, or a later attempt, settles it into the task's usage and cost. The cost
 * shown while a task runs is cost + interim.cost, as the snapshot's running cost is.
 */

import { clone, create } from "@bufbuild/protobuf";
import {
  TaskCostSchema,
  TaskStatus,
  type ExecutionEvent,
  type TaskCost,
  type Usage,
} from "./gen/execstream/v1/events_pb";
import { InterimUsageSchema, TaskStateSchema, type TaskState } from "./gen/execstream/v1/state_pb";

type Effect = "keep" | "replace" | "settle";

function hasTokens(usage: Usage | undefined): boolean {
  if (!usage) return false;
  return (
    usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens +
      usage.cacheWriteOneHourTokens + usage.outputTokens + usage.reasoningTokens > 0n
  );
}

/** What `event` does to a pending interim of attempt `interimAttempt` (0: none). */
export function interimEffect(interimAttempt: number, event: ExecutionEvent): Effect {
  if (!interimAttempt) return "keep";
  const attempt = event.attempt || 1;
  const body = event.body;
  switch (body.case) {
    case "usage":
      return attempt === interimAttempt ? "replace" : "settle";
    case "finished":
      return hasTokens(body.value.usage) && attempt === interimAttempt ? "replace" : "settle";
    case "status":
      if (body.value.status !== TaskStatus.RETRYING) return "keep";
      return hasTokens(body.value.usage) && attempt === interimAttempt ? "replace" : "settle";
    case "error":
      if (!hasTokens(body.value.usage)) return "keep";
      return (body.value.attempt || attempt) === interimAttempt ? "replace" : "keep";
    default:
      return "keep";
  }
}

/** Apply a `usage` event: it becomes the task's interim. */
export function setInterim(task: TaskState, event: ExecutionEvent): void {
  if (event.body.case !== "usage") return;
  const update = event.body.value;
  task.interim = create(InterimUsageSchema, {
    attempt: event.attempt || 1,
    usage: update.usage,
    cost: update.cost,
  });
}

/** What a task has cost so far: its settled attempts plus its interim (exact nano-USD). */
export function liveCost(
  task: TaskState,
  addCost: (into: TaskState, cost: TaskCost | undefined) => void,
): TaskCost | undefined {
  const pending = task.interim?.cost;
  if (!pending) return task.cost;
  const view = create(TaskStateSchema, { cost: task.cost ? clone(TaskCostSchema, task.cost) : undefined });
  addCost(view, pending);
  return view.cost;
}
