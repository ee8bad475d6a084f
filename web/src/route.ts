/** Hash routes: `#/` the task list, `#/costs` the cost tables, `#/task/ID` one task. */

export type Route = { view: "tasks" } | { view: "costs" } | { view: "task"; taskId: string };

/** The route a location hash names; anything malformed (a bad %-escape) is the task list. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "");
  if (path === "/costs") return { view: "costs" };
  const task = /^\/task\/(.+)$/.exec(path);
  if (task?.[1]) {
    try {
      return { view: "task", taskId: decodeURIComponent(task[1]) };
    } catch {
      return { view: "tasks" }; // URIError: not a link this page made
    }
  }
  return { view: "tasks" };
}
