/**
 * The dashboard: wires the live sync, the task book, the views and the open panels.
 *
 * Data flows one way: LiveSync (snapshot, then watch) -> TaskBook -> views, redrawn in
 * animation frames. Open panels get their task's events from the same stream after a
 * replay of their own (TaskFeed). Costs of unfinished tasks are re-read from GetSnapshot
 * when their events may have changed them, so the live figure is the server's.
 */

import type { ExecutionEvent } from "./gen/execstream/v1/events_pb";
import { byNewest, TaskBook } from "./book";
import { CostsView } from "./costs";
import { el } from "./dom";
import { TaskFeed } from "./feed";
import { FilterBar, matches } from "./filters";
import { FrameScheduler } from "./frames";
import { Header } from "./header";
import { OutputPanel } from "./output";
import { createExecutionClient, type ExecutionClient } from "./rpc";
import { LiveSync, snapshotPages, type Connection, type Listing } from "./sync";
import { TaskListView } from "./tasks";
import { TokenPrompt } from "./auth";
import { parseRoute, type Route } from "./route";

const REFRESH_MS = 1000;
const ACTIVE_REFRESH_EVERY = 5; // refresh streaming tasks' cost every 5th tick
const MAX_REFRESH_IDS = 500;

export class Dashboard {
  private readonly client: ExecutionClient = createExecutionClient();
  private readonly book = new TaskBook();
  private readonly scheduler = new FrameScheduler();
  private readonly feeds = new Map<string, TaskFeed>();
  private readonly header: Header;
  private readonly filters: FilterBar;
  private readonly taskList: TaskListView;
  private readonly costs = new CostsView();
  private readonly prompt: TokenPrompt;
  private readonly sync: LiveSync;
  private readonly tabs: Record<"tasks" | "costs", HTMLAnchorElement>;
  private readonly counter = el("span", { id: "task-count", class: "count" });
  private route: Route = { view: "tasks" };
  private renderedOrder = -1;
  private renderedTotals = -1;
  private refreshing = false;
  private ticks = 0;

  constructor(private readonly root: HTMLElement) {
    this.sync = new LiveSync(this.client, {
      listed: (listing, logChanged) => this.listed(listing, logChanged),
      events: (events) => this.events(events),
      connection: (state) => this.connection(state),
    });
    this.prompt = new TokenPrompt(() => this.sync.retryNow());
    this.header = new Header(
      () => this.sync.retryNow(),
      () => this.prompt.ask(""),
    );
    this.filters = new FilterBar(() => {
      this.renderedOrder = -1;
      this.redraw();
    });
    this.taskList = new TaskListView({ toggle: (id) => this.toggle(id) });
    this.tabs = {
      tasks: el("a", { href: "#/", class: "tab" }, "Tasks"),
      costs: el("a", { href: "#/costs", class: "tab" }, "Costs"),
    };
    root.replaceChildren(
      this.header.root,
      el("nav", { class: "bar" }, this.tabs.tasks, this.tabs.costs, this.filters.root, this.counter),
      el("main", {}, this.taskList.root, this.costs.root),
      this.prompt.root,
    );
  }

  start(): void {
    window.addEventListener("hashchange", () => this.navigate());
    window.addEventListener("online", () => this.sync.retryNow());
    setInterval(() => this.tick(), REFRESH_MS);
    this.navigate();
    this.sync.start();
  }

  private listed(listing: Listing, logChanged: boolean): void {
    this.book.reset(listing.tasks, listing.totals);
    for (const [taskId, feed] of this.feeds) {
      const task = this.book.tasks.get(taskId);
      if (!task) {
        this.closePanel(taskId); // not in this log (a replaced store): its row is gone
        continue;
      }
      if (logChanged) feed.panel.reset();
      feed.replay(feed.panel.lastRevision, task.lastRevision);
    }
    this.openRoutedTask();
    this.redraw();
  }

  private events(events: ExecutionEvent[]): void {
    this.book.apply(events);
    if (this.feeds.size) {
      const byTask = new Map<string, ExecutionEvent[]>();
      for (const event of events) {
        if (!this.feeds.has(event.taskId)) continue;
        const list = byTask.get(event.taskId) ?? [];
        list.push(event);
        byTask.set(event.taskId, list);
      }
      for (const [taskId, list] of byTask) this.feeds.get(taskId)?.live(list);
    }
    if (this.route.view === "task" && !this.feeds.has(this.route.taskId)) this.openRoutedTask();
    this.redraw();
  }

  private connection(state: Connection): void {
    this.header.connection(state);
    this.root.dataset["connection"] = state.kind;
    if (state.kind === "auth") this.prompt.ask(state.reason);
  }

  private redraw(): void {
    this.scheduler.schedule(() => this.render());
  }

  private render(): void {
    const book = this.book;
    let order: string[] | null = null;
    if (this.renderedOrder !== book.orderVersion) {
      this.renderedOrder = book.orderVersion;
      order = [...book.tasks.values()]
        .filter((task) => matches(task, this.filters.filter))
        .sort(byNewest)
        .map((task) => task.taskId);
      this.counter.textContent = `${order.length} of ${book.tasks.size} tasks`;
      this.filters.offer(book.sidecars, book.models);
    }
    this.taskList.update(book.tasks, book.dirty, order);
    this.costs.update(book.tasks, book.dirty, order);
    book.dirty.clear();
    if (this.renderedTotals !== book.totalsVersion) {
      this.renderedTotals = book.totalsVersion;
      this.costs.updateTotals(book.totals);
    }
    this.header.totals(book.totals, book.tasks);
  }

  private toggle(taskId: string): void {
    const open = !this.feeds.has(taskId);
    if (open) this.openPanel(taskId);
    else this.closePanel(taskId);
  }

  private openPanel(taskId: string): void {
    const slot = this.taskList.panelSlot(taskId);
    if (!slot || this.feeds.has(taskId)) return;
    const panel = new OutputPanel(this.scheduler, () => this.replayFromStart(taskId));
    const feed = new TaskFeed(this.client, taskId, panel);
    this.feeds.set(taskId, feed);
    slot.replaceChildren(panel.root);
    this.taskList.setOpen(taskId, true, this.book.tasks.get(taskId));
    feed.replay(0n, this.book.tasks.get(taskId)?.lastRevision ?? 0n);
  }

  private closePanel(taskId: string): void {
    this.feeds.get(taskId)?.close();
    this.feeds.delete(taskId);
    this.taskList.panelSlot(taskId)?.replaceChildren();
    this.taskList.setOpen(taskId, false, undefined);
    if (this.route.view === "task" && this.route.taskId === taskId) history.replaceState(null, "", "#/");
  }

  private replayFromStart(taskId: string): void {
    const feed = this.feeds.get(taskId);
    if (!feed) return;
    feed.panel.reset();
    feed.replay(0n, this.book.tasks.get(taskId)?.lastRevision ?? 0n);
  }

  private navigate(): void {
    this.route = parseRoute(window.location.hash);
    const costs = this.route.view === "costs";
    this.costs.show(costs);
    this.taskList.root.hidden = costs;
    this.tabs.tasks.classList.toggle("active", !costs);
    this.tabs.costs.classList.toggle("active", costs);
    this.openRoutedTask();
  }

  /** A deep link (#/task/ID): open that task's panel, replayed from the start. */
  private openRoutedTask(): void {
    if (this.route.view !== "task") return;
    const taskId = this.route.taskId;
    if (!this.book.tasks.has(taskId)) return; // opened when the task shows up
    this.render();
    this.openPanel(taskId);
    const row = this.taskList.rowElement(taskId);
    row?.classList.add("linked");
    row?.scrollIntoView({ block: "start" });
  }

  /** Once a second: ages, and the server's cost of tasks whose cost may have moved. */
  private tick(): void {
    this.ticks += 1;
    if (!this.taskList.root.hidden) this.taskList.tick(this.book.tasks, Date.now());
    void this.refreshCosts();
  }

  private async refreshCosts(): Promise<void> {
    const book = this.book;
    const ids = new Set(book.stale);
    if (this.ticks % ACTIVE_REFRESH_EVERY === 0) for (const id of book.active) ids.add(id);
    if (this.refreshing || ids.size === 0) return;
    const taskIds = [...ids].slice(0, MAX_REFRESH_IDS);
    for (const id of taskIds) {
      book.stale.delete(id);
      book.active.delete(id);
    }
    this.refreshing = true;
    try {
      const pages = await snapshotPages(this.client, { taskIds });
      for (const page of pages) book.merge(page.tasks, page.totals);
      this.redraw();
    } catch {
      for (const id of taskIds) book.stale.add(id); // try again on the next tick
    } finally {
      this.refreshing = false;
    }
  }
}
