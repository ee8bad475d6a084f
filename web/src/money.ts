/**
 * Money on the page: exact nano-USD (bigint) from the server, formatted without floats.
 * An unpriced cost is shown as "unpriced", never $0; an estimated one is marked as such.
 */

import type { TaskCost } from "./gen/execstream/v1/events_pb";

const NANOS_PER_USD = 1_000_000_000n;
/** Digits after the point: a millionth of a dollar is the smallest figure a token costs. */
const DECIMALS = 6;
const SCALE = 10n ** BigInt(9 - DECIMALS);

/** `$1.234567` from nano-USD, rounded half away from zero to 6 decimals. */
export function usd(nanos: bigint, { signed = false } = {}): string {
  const negative = nanos < 0n;
  const magnitude = negative ? -nanos : nanos;
  const rounded = (magnitude + SCALE / 2n) / SCALE;
  const units = rounded / 10n ** BigInt(DECIMALS);
  const fraction = (rounded % 10n ** BigInt(DECIMALS)).toString().padStart(DECIMALS, "0");
  const sign = negative && rounded !== 0n ? "−" : signed && rounded !== 0n ? "+" : "";
  return `${sign}$${units.toString()}.${fraction}`;
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
