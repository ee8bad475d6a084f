/** Text for people: ages, token counts, statuses. */

import { TaskStatus } from "./gen/execstream/v1/events_pb";

export function age(fromMs: number, nowMs: number): string {
  const s = Math.max(0, Math.floor((nowMs - fromMs) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

const grouping = new Intl.NumberFormat("en-US");

export function count(value: bigint | number): string {
  return grouping.format(value);
}

export const STATUS_NAMES: Record<TaskStatus, string> = {
  [TaskStatus.UNSPECIFIED]: "unknown",
  [TaskStatus.PENDING]: "pending",
  [TaskStatus.RUNNING]: "running",
  [TaskStatus.RETRYING]: "retrying",
  [TaskStatus.SUCCEEDED]: "succeeded",
  [TaskStatus.FAILED]: "failed",
  [TaskStatus.CANCELLED]: "cancelled",
};

export function statusName(status: TaskStatus): string {
  return STATUS_NAMES[status] ?? "unknown";
}

export function isTerminal(status: TaskStatus): boolean {
  return (
    status === TaskStatus.SUCCEEDED ||
    status === TaskStatus.FAILED ||
    status === TaskStatus.CANCELLED
  );
}

export function backendModel(backend: string, model: string): string {
  if (backend && model) return `${backend} · ${model}`;
  return backend || model || "—";
}
