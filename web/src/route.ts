/** Hash routes: `#/` the task list, `#/costs` the cost tables, `#/task/ID` one task. */

export type Route = { view: "tasks" } | { view: "costs" } | { view: "task"; taskId: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "");
  if (path === "/costs") return { view: "costs" };
  const task = /^\/task\/(.+)$/.exec(path);
  if (task?.[1]) return { view: "task", taskId: decodeURIComponent(task[1]) };
  return { view: "tasks" };
}
