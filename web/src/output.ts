/**
 * One task's output panel: events rendered by kind, capped, following the live end.
 *
 * Each event is one node whose class says its kind (out-token, out-stdout, out-stderr,
 * out-status, out-error, out-tool, out-started, out-finished, out-usage, out-budget), so
 * colours live in CSS.
 * Nodes are added in animation frames. At most `cap` nodes stay in the panel; older ones
 * are removed and counted. While the reader is scrolled up the view is left still: new
 * events wait (counted, also capped) until "jump to live".
 */

import type { ExecutionEvent } from "./gen/execstream/v1/events_pb";
import { Outcome } from "./gen/execstream/v1/events_pb";
import { el, setText } from "./dom";
import type { FrameScheduler } from "./frames";
import { count, statusName } from "./format";
import { actualCost, usd } from "./money";

export const DEFAULT_CAP = 2000;
const BOTTOM_SLACK_PX = 8;

const OUTCOMES: Record<Outcome, string> = {
  [Outcome.UNSPECIFIED]: "unspecified",
  [Outcome.SUCCEEDED]: "succeeded",
  [Outcome.FAILED]: "failed",
  [Outcome.CANCELLED]: "cancelled",
};

export function renderEvent(event: ExecutionEvent): HTMLElement | null {
  const body = event.body;
  let node: HTMLElement;
  switch (body.case) {
    case "token":
      node = el("span", { class: "out-token" }, body.value.text);
      break;
    case "stdout":
      node = el("span", { class: "out-stdout" }, body.value.text);
      break;
    case "stderr":
      node = el("span", { class: "out-stderr" }, body.value.text);
      break;
    case "status": {
      const why = body.value.message ? `: ${body.value.message}` : "";
      node = el("div", { class: "out-status" }, `${statusName(body.value.status)}${why}`);
      break;
    }
    case "error": {
      const { code, message, retryable } = body.value;
      const text = `error${code ? ` [${code}]` : ""}: ${message}${retryable ? " (will retry)" : ""}`;
      node = el("div", { class: "out-error" }, text);
      break;
    }
    case "toolCall": {
      const call = body.value;
      const result = call.ok ? call.resultSummary : `failed: ${call.error}`;
      const text = `⚙ ${call.toolName}(${call.argumentsSummary})${result ? ` → ${result}` : ""}`;
      node = el("div", { class: call.ok ? "out-tool" : "out-tool out-tool-failed" }, text);
      break;
    }
    case "started": {
      const { backend, model, description } = body.value;
      const on = [backend, model].filter(Boolean).join(" · ");
      const text = `started on ${on || "?"}${description ? `: ${description}` : ""}`;
      node = el("div", { class: "out-status out-started" }, text);
      break;
    }
    case "finished": {
      const f = body.value;
      const parts = [`finished: ${OUTCOMES[f.outcome] ?? "unknown"}`];
      if (f.exitCode !== undefined) parts.push(`exit ${f.exitCode}`);
      if (f.cost) parts.push(`cost ${actualCost(f.cost).text}`);
      if (f.error) parts.push(f.error);
      node = el("div", { class: `out-finished out-${OUTCOMES[f.outcome] ?? "unknown"}` });
      node.textContent = parts.join(" · ");
      break;
    }
    case "usage": {
      const usage = body.value.usage;
      const input =
        (usage?.inputTokens ?? 0n) + (usage?.cacheReadTokens ?? 0n) +
        (usage?.cacheWriteTokens ?? 0n) + (usage?.cacheWriteOneHourTokens ?? 0n);
      const parts = [];
      if (input > 0n) parts.push(`${count(input)} in`);
      if ((usage?.outputTokens ?? 0n) > 0n) parts.push(`${count(usage?.outputTokens ?? 0n)} out`);
      parts.push(actualCost(body.value.cost).text);
      node = el("div", { class: "out-usage" }, `usage so far: ${parts.join(" · ")}`);
      break;
    }
    case "budget": {
      const b = body.value;
      const text =
        `budget ${b.budget} (${b.scope}, ${b.period}) reached ${b.thresholdPercent}%: ` +
        `${usd(b.spentNanos)} of ${usd(b.amountNanos)}`;
      node = el("div", { class: `out-budget out-budget-${b.thresholdPercent}` }, text);
      break;
    }
    default:
      return null;
  }
  node.dataset["rev"] = event.revision.toString();
  if (event.attempt > 1) node.dataset["attempt"] = String(event.attempt);
  return node;
}

export class OutputPanel {
  readonly root: HTMLElement;
  /** The highest revision shown or queued: events at or below it are duplicates. */
  lastRevision = 0n;
  private readonly body: HTMLElement;
  private readonly hiddenNote: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly state: HTMLElement;
  private queue: ExecutionEvent[] = [];
  private held: ExecutionEvent[] = [];
  private hidden = 0;
  private following = true;
  private lastAttempt = 1;

  constructor(
    private readonly scheduler: FrameScheduler,
    onReplay: () => void,
    private readonly cap: number = DEFAULT_CAP,
  ) {
    this.hiddenNote = el("div", { class: "out-hidden", hidden: "" });
    this.body = el("div", { class: "out-body", tabindex: "0" });
    this.jump = el("button", { class: "jump-live", type: "button", hidden: "" }, "Jump to live ↓");
    this.state = el("span", { class: "out-state" });
    const replay = el("button", { class: "replay", type: "button" }, "Replay from start");
    replay.addEventListener("click", onReplay);
    this.jump.addEventListener("click", () => this.jumpToLive());
    this.body.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.root = el(
      "div",
      { class: "output" },
      el("div", { class: "out-bar" }, this.state, replay, this.jump),
      this.hiddenNote,
      this.body,
    );
  }

  /** Queue events (each revision once) for the next frame. */
  push(events: ExecutionEvent[]): void {
    for (const event of events) {
      if (event.revision <= this.lastRevision) continue;
      this.lastRevision = event.revision;
      this.queue.push(event);
    }
    if (this.queue.length) this.scheduler.schedule(() => this.render());
  }

  /** Empty the panel (before a replay from the start). */
  reset(): void {
    this.body.replaceChildren();
    this.queue = [];
    this.held = [];
    this.hidden = 0;
    this.lastRevision = 0n;
    this.lastAttempt = 1;
    this.following = true;
    this.updateNotes();
  }

  setState(text: string): void {
    setText(this.state, text);
  }

  /** A line of the panel's own (not an event), e.g. about compacted history. */
  note(text: string): void {
    this.body.appendChild(el("div", { class: "out-note" }, text));
  }

  private render(): void {
    const batch = this.queue;
    this.queue = [];
    if (!this.following) {
      this.held.push(...batch);
      const over = this.held.length - this.cap;
      if (over > 0) {
        this.held.splice(0, over);
        this.hidden += over;
      }
      this.updateNotes();
      return;
    }
    this.appendNodes(batch);
  }

  private appendNodes(events: ExecutionEvent[]): void {
    const start = Math.max(0, events.length - this.cap);
    this.hidden += start;
    const fragment = document.createDocumentFragment();
    for (let i = start; i < events.length; i++) {
      const event = events[i]!;
      if (event.attempt > this.lastAttempt) {
        this.lastAttempt = event.attempt;
        fragment.appendChild(el("div", { class: "out-attempt" }, `attempt ${event.attempt}`));
      }
      const node = renderEvent(event);
      if (node) fragment.appendChild(node);
    }
    this.body.appendChild(fragment);
    let excess = this.body.childElementCount - this.cap;
    while (excess-- > 0 && this.body.firstChild) {
      this.body.removeChild(this.body.firstChild);
      this.hidden += 1;
    }
    this.updateNotes();
    this.body.scrollTop = this.body.scrollHeight;
  }

  private onScroll(): void {
    const { scrollTop, scrollHeight, clientHeight } = this.body;
    const atBottom = scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK_PX;
    if (atBottom && !this.following && this.held.length === 0) this.following = true;
    else if (!atBottom && this.following) this.following = false;
    this.updateNotes();
  }

  jumpToLive(): void {
    this.following = true;
    const held = this.held;
    this.held = [];
    this.appendNodes(held);
  }

  private updateNotes(): void {
    this.jump.hidden = this.following;
    setText(
      this.jump,
      this.held.length ? `Jump to live ↓ (${count(this.held.length)} new)` : "Jump to live ↓",
    );
    this.hiddenNote.hidden = this.hidden === 0;
    setText(
      this.hiddenNote,
      `${count(this.hidden)} earlier entries hidden (the panel keeps the latest ${count(this.cap)})`,
    );
    this.root.dataset["following"] = String(this.following);
    this.root.dataset["hidden"] = String(this.hidden);
  }
}
