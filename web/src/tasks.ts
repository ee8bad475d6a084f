/**
 * The task list: one row per task (status, sidecar, backend/model, age, cost), newest
 * first; a row opens into its details, its cost table and its output panel.
 *
 * Rows are keyed by task id and redrawn only when their task changed; the list order is
 * rebuilt only when tasks arrive or the filters change, so 1,000 rows stay cheap.
 */

import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { TaskState } from "./gen/execstream/v1/state_pb";
import { el, setClass, setText } from "./dom";
import { age, backendModel, isTerminal, statusName } from "./format";
import { actualCost } from "./money";
import { shownCost } from "./fold";
import { taskCostTable } from "./costs";

export interface RowHandlers {
  toggle(taskId: string): void;
}

interface Row {
  main: HTMLTableRowElement;
  detail: HTMLTableRowElement;
  cells: Record<"toggle" | "status" | "sidecar" | "model" | "age" | "cost", HTMLElement>;
  detailBody: HTMLElement;
  panelSlot: HTMLElement;
}

const COLUMNS = 7;

export class TaskListView {
  readonly root: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, Row>();
  readonly open = new Set<string>();

  constructor(private readonly handlers: RowHandlers) {
    this.body = el("tbody");
    this.root = el(
      "section",
      { class: "tasks-view" },
      el(
        "table",
        { class: "tasks" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { class: "c-toggle" }, ""),
            el("th", {}, "Task"),
            el("th", {}, "Status"),
            el("th", {}, "Sidecar"),
            el("th", {}, "Backend · model"),
            el("th", {}, "Age"),
            el("th", { class: "num" }, "Cost"),
          ),
        ),
        this.body,
      ),
    );
  }

  /** The element an open task's output panel goes into. */
  panelSlot(taskId: string): HTMLElement | undefined {
    return this.rows.get(taskId)?.panelSlot;
  }

  rowElement(taskId: string): HTMLElement | undefined {
    return this.rows.get(taskId)?.main;
  }

  update(tasks: Map<string, TaskState>, dirty: Iterable<string>, order: string[] | null): void {
    for (const id of dirty) {
      const task = tasks.get(id);
      const row = this.rows.get(id);
      if (task && row) this.fill(row, task);
    }
    if (!order) return;
    const nodes: HTMLTableRowElement[] = [];
    for (const id of order) {
      const task = tasks.get(id);
      if (!task) continue;
      let row = this.rows.get(id);
      if (!row) {
        row = this.create(task);
        this.rows.set(id, row);
      }
      nodes.push(row.main, row.detail);
    }
    for (const id of [...this.rows.keys()]) if (!tasks.has(id)) this.rows.delete(id);
    this.body.replaceChildren(...nodes);
  }

  setOpen(taskId: string, open: boolean, task: TaskState | undefined): void {
    const row = this.rows.get(taskId);
    if (open) this.open.add(taskId);
    else this.open.delete(taskId);
    if (!row) return;
    row.detail.hidden = !open;
    row.main.classList.toggle("open", open);
    setText(row.cells.toggle, open ? "▾" : "▸");
    row.cells.toggle.setAttribute("aria-expanded", String(open));
    if (open && task) this.fillDetail(row, task);
  }

  /** Refresh the ages (once a second). */
  tick(tasks: Map<string, TaskState>, nowMs: number): void {
    for (const [id, row] of this.rows) {
      const task = tasks.get(id);
      if (task?.createdTime) setText(row.cells.age, age(timestampMs(task.createdTime), nowMs));
    }
  }

  private create(task: TaskState): Row {
    const toggle = el("button", { class: "toggle", type: "button", "aria-expanded": "false" }, "▸");
    toggle.addEventListener("click", () => this.handlers.toggle(task.taskId));
    const link = el("a", { href: `#/task/${encodeURIComponent(task.taskId)}` }, task.taskId);
    const cells = {
      toggle,
      status: el("span", { class: "status" }),
      sidecar: el("td", { class: "c-sidecar" }),
      model: el("td", { class: "c-model" }),
      age: el("td", { class: "c-age" }),
      cost: el("td", { class: "c-cost num money" }),
    };
    const main = el(
      "tr",
      { class: "task", "data-task": task.taskId },
      el("td", { class: "c-toggle" }, toggle),
      el("td", { class: "c-task" }, link),
      el("td", { class: "c-status" }, cells.status),
      cells.sidecar,
      cells.model,
      cells.age,
      cells.cost,
    );
    const detailBody = el("div", { class: "detail-meta" });
    const panelSlot = el("div", { class: "panel-slot" });
    const detail = el(
      "tr",
      { class: "detail", "data-task": task.taskId, hidden: "" },
      el("td", { colspan: String(COLUMNS) }, detailBody, panelSlot),
    );
    const row = { main, detail, cells, detailBody, panelSlot };
    this.fill(row, task);
    if (this.open.has(task.taskId)) this.setOpen(task.taskId, true, task);
    return row;
  }

  private fill(row: Row, task: TaskState): void {
    const status = statusName(task.status);
    setText(row.cells.status, status);
    setClass(row.cells.status, `status status-${status}`);
    setText(row.cells.sidecar, task.sidecarId);
    setText(row.cells.model, backendModel(task.backend, task.model));
    if (task.createdTime) setText(row.cells.age, age(timestampMs(task.createdTime), Date.now()));
    const cost = actualCost(shownCost(task));
    const live = !isTerminal(task.status) && task.status !== 0;
    setText(row.cells.cost, cost.text);
    setClass(row.cells.cost, ["c-cost", "num", "money", ...cost.classes, live ? "live" : ""].join(" ").trim());
    row.cells.cost.dataset["nanos"] = cost.nanos;
    row.main.dataset["status"] = status;
    if (!row.detail.hidden) this.fillDetail(row, task);
  }

  private fillDetail(row: Row, task: TaskState): void {
    const labels = Object.entries(task.labels)
      .map(([key, value]) => `${key}=${value}`)
      .join("  ");
    const facts: [string, string][] = [
      ["description", task.description],
      ["labels", labels],
      ["status message", task.statusMessage],
      ["error", task.error + (task.errorCode ? ` [${task.errorCode}]` : "")],
      ["exit code", task.exitCode === undefined ? "" : String(task.exitCode)],
      ["attempt", task.attempt > 1 ? String(task.attempt) : ""],
      ["events", task.eventCount.toString()],
    ];
    row.detailBody.replaceChildren(
      el(
        "dl",
        { class: "facts" },
        ...facts
          .filter(([, value]) => value.trim() !== "")
          .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]),
      ),
      taskCostTable(task),
    );
  }
}
