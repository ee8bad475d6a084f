/** The header: connection state, spend (finished and running, live) and the token button. */

import type { TaskState, Totals } from "./gen/execstream/v1/state_pb";
import { el, setClass, setText } from "./dom";
import { count, isTerminal } from "./format";
import { shownCost } from "./fold";
import { totalsMarks } from "./costs";
import { sumText, usd } from "./money";
import type { Connection } from "./sync";

export class Header {
  readonly root: HTMLElement;
  private readonly conn: HTMLElement;
  private readonly retry: HTMLButtonElement;
  private readonly spend: HTMLElement;
  private readonly running: HTMLElement;
  private readonly tokenButton: HTMLButtonElement;

  constructor(onRetry: () => void, onToken: () => void) {
    this.conn = el("span", { id: "conn", class: "conn" }, "connecting…");
    this.retry = el("button", { type: "button", class: "retry", hidden: "" }, "retry now");
    this.retry.addEventListener("click", onRetry);
    this.spend = el("span", { id: "spend", class: "spend" });
    this.running = el("span", { id: "running-cost", class: "running-cost live" });
    this.tokenButton = el("button", { type: "button", class: "token-button" }, "token…");
    this.tokenButton.addEventListener("click", onToken);
    this.root = el(
      "header",
      {},
      el("h1", {}, "execstream"),
      this.conn,
      this.retry,
      el("div", { class: "spend-box" }, this.spend, this.running),
      this.tokenButton,
    );
  }

  connection(state: Connection): void {
    const text: Record<Connection["kind"], string> = {
      connecting: "connecting…",
      live: "live",
      reconnecting: "reconnecting…",
      auth: "token needed",
      denied: "access denied",
    };
    setText(this.conn, text[state.kind]);
    setClass(this.conn, `conn conn-${state.kind}`);
    this.conn.title =
      state.kind === "reconnecting"
        ? `attempt ${state.attempt}, next in ${(state.retryInMs / 1000).toFixed(1)}s: ${state.reason}`
        : state.kind === "auth" || state.kind === "denied"
          ? state.reason
          : "";
    this.retry.hidden = state.kind !== "reconnecting";
  }

  /** Finished spend from the snapshot totals; running spend summed live from the rows. */
  totals(totals: Totals | undefined, tasks: Map<string, TaskState>): void {
    const cost = totals?.costNanos ?? 0n;
    const unpriced = totals?.unpricedTasks ?? 0n;
    const marks = totalsMarks(totals);
    setText(
      this.spend,
      `spent ${sumText(cost, "cost", marks)}` +
        ` · reference ${sumText(totals?.referenceCostNanos ?? 0n, "reference", marks)}` +
        ` · savings ${sumText(totals?.savingsNanos ?? 0n, "savings", marks)}` +
        (unpriced > 0n ? ` · ${count(unpriced)} unpriced` : ""),
    );
    this.spend.dataset["nanos"] = cost.toString();
    let running = 0n;
    let runningTasks = 0;
    let unpricedRunning = 0;
    for (const task of tasks.values()) {
      if (isTerminal(task.status)) continue;
      runningTasks += 1;
      const cost = shownCost(task); // committed: settled attempts plus the usage update
      if (cost?.unpriced) unpricedRunning += 1;
      else running += cost?.actual?.totalNanos ?? 0n;
    }
    setText(
      this.running,
      runningTasks
        ? `running now: ${usd(running)} over ${count(runningTasks)} task${runningTasks === 1 ? "" : "s"}` +
            (unpricedRunning ? ` (${unpricedRunning} unpriced)` : "")
        : "",
    );
    this.running.dataset["nanos"] = running.toString();
  }
}
