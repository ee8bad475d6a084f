/**
 * Money on the page: exact nano-USD (bigint) from the server, formatted without floats.
 * An unpriced cost is shown as "unpriced", never $0; an estimated one is marked as such.
 */

import type { TaskCost } from "./gen/execstream/v1/events_pb";

const NANOS_PER_USD = 1_000_000_000n;
/** Digits after the point: a millionth of a dollar is the smallest figure a token costs. */
const DECIMALS = 6;
const SCALE = 10n ** BigInt(9 - DECIMALS);

/**
 * `$1.234567` from nano-USD, rounded half away from zero to 6 decimals. A non-zero amount
 * below a millionth of a dollar is `<$0.000001` (with its sign), as the CLI prints it:
 * never `$0.000000`, which would read as free, nor a saving without its sign.
 */
export function usd(nanos: bigint, { signed = false } = {}): string {
  const negative = nanos < 0n;
  const magnitude = negative ? -nanos : nanos;
  const sign = negative ? "−" : signed && magnitude !== 0n ? "+" : "";
  if (magnitude !== 0n && magnitude < SCALE) return `${sign}<$0.${"0".repeat(DECIMALS - 1)}1`;
  const rounded = (magnitude + SCALE / 2n) / SCALE;
  const units = rounded / 10n ** BigInt(DECIMALS);
  const fraction = (rounded % 10n ** BigInt(DECIMALS)).toString().padStart(DECIMALS, "0");
  return `${sign}$${units.toString()}.${fraction}`;
}

/** What a sum covers: tasks whose token counts were estimated, tasks without a price. */
export interface SumMarks {
  estimated: boolean;
  unpriced: boolean;
}

export type SumKind = "cost" | "reference" | "savings";

/**
 * A summed figure with its marks: `≈` when some of its tasks' token counts were
 * estimated; with unpriced tasks, cost is a floor (`≥`: those tasks cost something
 * unknown) and savings a ceiling (`≤`: their reference cost is counted, their own is not).
 */
export function sumText(nanos: bigint, kind: SumKind, marks: SumMarks): string {
  const bound = !marks.unpriced ? "" : kind === "cost" ? "≥" : kind === "savings" ? "≤" : "";
  return bound + (marks.estimated ? "≈" : "") + usd(nanos, { signed: kind === "savings" });
}

export interface CostText {
  /** What the cell says. */
  text: string;
  /** CSS classes: unpriced, estimated, local, saving, overspend. */
  classes: string[];
  /** The exact figure (nano-USD) behind the text, or "" when there is none (unpriced). */
  nanos: string;
}

function flags(cost: TaskCost | undefined): string[] {
  const classes: string[] = [];
  if (cost?.estimated) classes.push("estimated");
  if (cost?.local) classes.push("local");
  return classes;
}

/** The actual cost of a task: "unpriced" when its model has no price. */
export function actualCost(cost: TaskCost | undefined): CostText {
  if (cost?.unpriced) return { text: "unpriced", classes: ["unpriced"], nanos: "" };
  const nanos = cost?.actual?.totalNanos ?? 0n;
  const classes = flags(cost);
  const text = (cost?.estimated ? "≈" : "") + usd(nanos);
  return { text, classes, nanos: nanos.toString() };
}

/** What the reference model would have cost. */
export function referenceCost(cost: TaskCost | undefined): CostText {
  const nanos = cost?.reference?.totalNanos ?? 0n;
  const classes = flags(cost);
  return { text: (cost?.estimated ? "≈" : "") + usd(nanos), classes, nanos: nanos.toString() };
}

/** Savings against the reference, signed; unknown when the actual cost is unpriced. */
export function savings(cost: TaskCost | undefined): CostText {
  if (cost?.unpriced) return { text: "unpriced", classes: ["unpriced"], nanos: "" };
  const nanos = cost?.savingsNanos ?? 0n;
  const classes = flags(cost);
  if (nanos > 0n) classes.push("saving");
  if (nanos < 0n) classes.push("overspend");
  const text = (cost?.estimated ? "≈" : "") + usd(nanos, { signed: true });
  return { text, classes, nanos: nanos.toString() };
}

export function nanosToUsdNumber(nanos: bigint): number {
  return Number(nanos) / Number(NANOS_PER_USD);
}
