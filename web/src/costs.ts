/**
 * Cost tables: one row per task (model, token buckets, cost, reference cost, savings) and
 * the totals by model from the snapshot. Figures are the server's exact nano-USD; each cell
 * keeps them in data-nanos, and "unpriced" or "estimated" is said, never shown as $0.
 */

import type { TaskState, Totals, ModelTotals } from "./gen/execstream/v1/state_pb";
import type { Usage } from "./gen/execstream/v1/events_pb";
import { el } from "./dom";
import { backendModel, count, isTerminal } from "./format";
import { shownCost } from "./fold";
import {
  actualCost,
  referenceCost,
  savings,
  sumText,
  type CostText,
  type SumKind,
  type SumMarks,
} from "./money";

export const TASK_COST_HEADERS = [
  "Model",
  "Input",
  "Cache read",
  "Cache write",
  "Output",
  "Reasoning",
  "Cost",
  "Reference",
  "Savings",
];

function tokenCells(usage: Usage | undefined): HTMLTableCellElement[] {
  const cacheWrite = (usage?.cacheWriteTokens ?? 0n) + (usage?.cacheWriteOneHourTokens ?? 0n);
  return [
    usage?.inputTokens ?? 0n,
    usage?.cacheReadTokens ?? 0n,
    cacheWrite,
    usage?.outputTokens ?? 0n,
    usage?.reasoningTokens ?? 0n,
  ].map((value) => el("td", { class: "num" }, count(value)));
}

function moneyCell(cost: CostText, name: string, extra = ""): HTMLTableCellElement {
  const cell = el("td", { class: ["num", "money", `c-${name}`, ...cost.classes, extra].join(" ").trim() });
  cell.textContent = cost.text;
  cell.dataset["nanos"] = cost.nanos;
  if (cost.classes.includes("estimated")) cell.title = "estimated: some token counts are estimates";
  if (cost.classes.includes("unpriced")) cell.title = "this model has no price in the table";
  return cell;
}

/** The cost columns of one task (after its model). */
export function taskCostCells(task: TaskState): HTMLTableCellElement[] {
  const live = isTerminal(task.status) ? "" : "live";
  const cost = shownCost(task); // settled attempts plus the running one's usage update
  return [
    el("td", { class: "c-model" }, backendModel(task.backend, task.model)),
    ...tokenCells(task.usage),
    moneyCell(actualCost(cost), "cost", live),
    moneyCell(referenceCost(cost), "reference", live),
    moneyCell(savings(cost), "savings", live),
  ];
}

function headerRow(names: string[]): HTMLTableSectionElement {
  return el("thead", {}, el("tr", {}, ...names.map((name) => el("th", {}, name))));
}

/** A task's own cost table (inside its detail row). */
export function taskCostTable(task: TaskState): HTMLTableElement {
  return el(
    "table",
    { class: "cost-table task-cost" },
    headerRow(TASK_COST_HEADERS),
    el("tbody", {}, el("tr", { "data-task": task.taskId }, ...taskCostCells(task))),
  );
}

/**
 * A summed figure, marked as sumText says. The cost and savings of a model none of whose
 * tasks had a price are "unpriced"; its reference cost is known, and shown.
 */
function sumMoney(nanos: bigint, kind: SumKind, marks: SumMarks, allUnpriced = false): CostText {
  if (allUnpriced && kind !== "reference") {
    return { text: "unpriced", classes: ["unpriced"], nanos: nanos.toString() };
  }
  const classes: string[] = [];
  if (marks.estimated) classes.push("estimated");
  if (marks.unpriced && kind !== "reference") classes.push("unpriced");
  if (kind === "savings" && nanos > 0n) classes.push("saving");
  if (kind === "savings" && nanos < 0n) classes.push("overspend");
  return { text: sumText(nanos, kind, marks), classes, nanos: nanos.toString() };
}

function modelMoney(row: ModelTotals, nanos: bigint, kind: SumKind): CostText {
  const marks = { estimated: row.estimatedTasks > 0n, unpriced: row.unpricedTasks > 0n };
  return sumMoney(nanos, kind, marks, row.unpricedTasks > 0n && row.unpricedTasks >= row.tasks);
}

/** The marks of the grand total: any estimated or unpriced finished task. */
export function totalsMarks(totals: Totals | undefined): SumMarks {
  return {
    estimated: (totals?.byModel ?? []).some((row) => row.estimatedTasks > 0n),
    unpriced: (totals?.unpricedTasks ?? 0n) > 0n,
  };
}

function modelRow(row: ModelTotals): HTMLTableRowElement {
  const unpriced = row.unpricedTasks > 0n;
  return el(
    "tr",
    { "data-model": `${row.backend}/${row.model}` },
    el("td", { class: "c-model" }, backendModel(row.backend, row.model)),
    el("td", { class: "num" }, count(row.tasks)),
    ...tokenCells(row.usage),
    moneyCell(modelMoney(row, row.costNanos, "cost"), "cost"),
    moneyCell(modelMoney(row, row.referenceCostNanos, "reference"), "reference"),
    moneyCell(modelMoney(row, row.savingsNanos, "savings"), "savings"),
    el(
      "td",
      { class: unpriced ? "num unpriced" : "num" },
      unpriced ? `${count(row.unpricedTasks)} unpriced` : "",
    ),
  );
}

/** The totals by model (finished tasks), with the grand total in the footer. */
export function renderTotals(container: HTMLElement, totals: Totals | undefined): void {
  const rows = (totals?.byModel ?? []).map(modelRow);
  const marks = totalsMarks(totals);
  const footer = el(
    "tfoot",
    {},
    el(
      "tr",
      { class: "grand-total" },
      el("td", {}, "All models"),
      el("td", { class: "num" }, count((totals?.byModel ?? []).reduce((n, r) => n + r.tasks, 0n))),
      ...tokenCells(totals?.usage),
      moneyCell(sumMoney(totals?.costNanos ?? 0n, "cost", marks), "cost"),
      moneyCell(sumMoney(totals?.referenceCostNanos ?? 0n, "reference", marks), "reference"),
      moneyCell(sumMoney(totals?.savingsNanos ?? 0n, "savings", marks), "savings"),
      el("td", { class: "num" }, marks.unpriced ? `${count(totals?.unpricedTasks ?? 0n)} unpriced` : ""),
    ),
  );
  container.replaceChildren(
    el("h2", {}, "Totals by model (finished tasks)"),
    el(
      "table",
      { class: "cost-table model-totals" },
      headerRow(["Backend · model", "Tasks", ...TASK_COST_HEADERS.slice(1), "Unpriced"]),
      el("tbody", {}, ...rows),
      footer,
    ),
  );
}

/** The per-task cost table of the Costs view, for the tasks the filters let through. */
export class CostsView {
  readonly root: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly totals: HTMLElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();

  constructor() {
    this.body = el("tbody");
    this.totals = el("section", { class: "totals" });
    this.root = el(
      "section",
      { class: "costs-view", hidden: "" },
      el("h2", {}, "Cost per task"),
      el(
        "table",
        { class: "cost-table per-task" },
        headerRow(["Task", ...TASK_COST_HEADERS]),
        this.body,
      ),
      this.totals,
    );
  }

  /** Redraw the rows of `dirty` tasks; rebuild the order when `order` is given. */
  update(tasks: Map<string, TaskState>, dirty: Iterable<string>, order: string[] | null): void {
    for (const id of dirty) {
      const task = tasks.get(id);
      const row = this.rows.get(id);
      if (task && row) row.replaceChildren(this.idCell(task), ...taskCostCells(task));
    }
    if (!order) return;
    const rows: HTMLTableRowElement[] = [];
    for (const id of order) {
      let row = this.rows.get(id);
      const task = tasks.get(id);
      if (!task) continue;
      if (!row) {
        row = el("tr", { "data-task": id }, this.idCell(task), ...taskCostCells(task));
        this.rows.set(id, row);
      }
      rows.push(row);
    }
    for (const id of this.rows.keys()) if (!tasks.has(id)) this.rows.delete(id);
    this.body.replaceChildren(...rows);
  }

  updateTotals(totals: Totals | undefined): void {
    renderTotals(this.totals, totals);
  }

  private idCell(task: TaskState): HTMLTableCellElement {
    const cell = el("td", { class: "c-task" });
    cell.appendChild(el("a", { href: `#/task/${encodeURIComponent(task.taskId)}` }, task.taskId));
    return cell;
  }

  show(visible: boolean): void {
    this.root.hidden = !visible;
  }
}

