/** The filter bar: status, sidecar, model and label; the same filters drive both views. */

import { TaskStatus } from "./gen/execstream/v1/events_pb";
import type { TaskState } from "./gen/execstream/v1/state_pb";
import { el } from "./dom";
import { isTerminal, STATUS_NAMES } from "./format";

export interface Filter {
  status: string;
  sidecar: string;
  model: string;
  label: string;
}

export function matches(task: TaskState, filter: Filter): boolean {
  if (filter.status === "active" && isTerminal(task.status)) return false;
  if (filter.status && filter.status !== "active" && STATUS_NAMES[task.status] !== filter.status)
    return false;
  if (filter.sidecar && task.sidecarId !== filter.sidecar) return false;
  if (filter.model && task.model !== filter.model && task.backend !== filter.model) return false;
  if (filter.label) return matchesLabel(task.labels, filter.label);
  return true;
}

/**
 * `key=value` matches that label exactly; `key` alone, any task that has the key. Only the
 * task's own labels count: `constructor` or `__proto__` are label names like any other.
 */
function matchesLabel(labels: Record<string, string>, query: string): boolean {
  const [key, ...rest] = query.split("=");
  const name = (key ?? "").trim();
  if (!Object.hasOwn(labels, name)) return false;
  return rest.length === 0 || labels[name] === rest.join("=").trim();
}

export class FilterBar {
  readonly root: HTMLElement;
  readonly filter: Filter = { status: "", sidecar: "", model: "", label: "" };
  private readonly sidecar: HTMLSelectElement;
  private readonly model: HTMLSelectElement;
  private readonly known = { sidecars: "", models: "" };

  constructor(onChange: () => void) {
    const status = el(
      "select",
      { id: "f-status", "aria-label": "status" },
      el("option", { value: "" }, "any status"),
      el("option", { value: "active" }, "not finished"),
      ...Object.entries(STATUS_NAMES)
        .filter(([value]) => Number(value) !== TaskStatus.UNSPECIFIED)
        .map(([, name]) => el("option", { value: name }, name)),
    );
    this.sidecar = el("select", { id: "f-sidecar", "aria-label": "sidecar" });
    this.model = el("select", { id: "f-model", "aria-label": "model" });
    const label = el("input", {
      id: "f-label",
      type: "search",
      placeholder: "label: key or key=value",
      "aria-label": "label",
    });
    const bind = (input: HTMLSelectElement | HTMLInputElement, key: keyof Filter): void => {
      input.addEventListener("input", () => {
        this.filter[key] = input.value;
        onChange();
      });
    };
    bind(status, "status");
    bind(this.sidecar, "sidecar");
    bind(this.model, "model");
    bind(label, "label");
    this.setOptions(this.sidecar, "any sidecar", []);
    this.setOptions(this.model, "any model", []);
    this.root = el("div", { class: "filters" }, status, this.sidecar, this.model, label);
  }

  /** Offer the sidecars and models seen so far (rebuilt only when the sets change). */
  offer(sidecars: Set<string>, models: Set<string>): void {
    const sidecarKey = [...sidecars].sort().join("\n");
    if (sidecarKey !== this.known.sidecars) {
      this.known.sidecars = sidecarKey;
      this.setOptions(this.sidecar, "any sidecar", sidecarKey ? sidecarKey.split("\n") : []);
    }
    const modelKey = [...models].sort().join("\n");
    if (modelKey !== this.known.models) {
      this.known.models = modelKey;
      this.setOptions(this.model, "any model", modelKey ? modelKey.split("\n") : []);
    }
  }

  private setOptions(select: HTMLSelectElement, any: string, values: string[]): void {
    const current = select.value;
    select.replaceChildren(
      el("option", { value: "" }, any),
      ...values.map((value) => el("option", { value }, value)),
    );
    select.value = values.includes(current) ? current : "";
  }
}
