/**
 * TaskBook: every task the page knows, the totals, and what changed since the last frame.
 *
 * Fed by snapshots (authoritative, replace rows that are not newer) and by live events
 * (folded, each at most once per task thanks to last_revision). Views read it in frames.
 */

import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ExecutionEvent } from "./gen/execstream/v1/events_pb";
import type { TaskState, Totals } from "./gen/execstream/v1/state_pb";
import { applyEvent, changesCost, newTask } from "./fold";

export class TaskBook {
  readonly tasks = new Map<string, TaskState>();
  totals: Totals | undefined;
  /** Tasks whose row must be redrawn. */
  readonly dirty = new Set<string>();
  /** Tasks whose cost or state the server should be asked for again (live cost). */
  readonly stale = new Set<string>();
  /** Running tasks that streamed output since the last refresh. */
  readonly active = new Set<string>();
  /** Bumped when the set or order of tasks may have changed (new task, relist). */
  orderVersion = 0;
  /** Bumped when the totals changed. */
  totalsVersion = 0;
  sidecars = new Set<string>();
  models = new Set<string>();

  /** Replace everything (a relist). */
  reset(tasks: TaskState[], totals: Totals | undefined): void {
    this.tasks.clear();
    this.sidecars.clear();
    this.models.clear();
    this.stale.clear();
    this.active.clear();
    this.merge(tasks, totals);
    this.orderVersion += 1;
  }

  /** Take a snapshot's rows that are at least as recent as ours, and its totals. */
  merge(tasks: TaskState[], totals: Totals | undefined): void {
    for (const task of tasks) {
      const known = this.tasks.get(task.taskId);
      if (known && known.lastRevision > task.lastRevision) continue;
      if (!known) this.orderVersion += 1;
      this.tasks.set(task.taskId, task);
      this.note(task);
      this.dirty.add(task.taskId);
    }
    if (totals) {
      this.totals = totals;
      this.totalsVersion += 1;
    }
  }

  /** Fold live events; an event at or below its task's last_revision is skipped. */
  apply(events: ExecutionEvent[]): void {
    for (const event of events) {
      let task = this.tasks.get(event.taskId);
      if (!task) {
        task = newTask(event);
        this.tasks.set(event.taskId, task);
        this.orderVersion += 1;
      } else if (event.revision <= task.lastRevision) {
        continue;
      }
      const before = filterKey(task);
      applyEvent(task, event);
      if (filterKey(task) !== before) this.orderVersion += 1;
      this.note(task);
      this.dirty.add(task.taskId);
      if (changesCost(event)) this.stale.add(task.taskId);
      else this.active.add(task.taskId);
    }
  }

  private note(task: TaskState): void {
    if (task.sidecarId) this.sidecars.add(task.sidecarId);
    if (task.model) this.models.add(task.model);
  }
}

/** The fields filters look at: a change may move the task in or out of the view. */
function filterKey(task: TaskState): string {
  return `${task.status}|${task.model}|${task.backend}|${Object.keys(task.labels).length}`;
}

export function createdMs(task: TaskState): number {
  return task.createdTime ? timestampMs(task.createdTime) : 0;
}

/** Newest first, then by id: the order of the task list. */
export function byNewest(a: TaskState, b: TaskState): number {
  return createdMs(b) - createdMs(a) || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
}
