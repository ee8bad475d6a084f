// A headless Chromium driven by playwright-core, for tests written in another language.
//
// Reads one JSON command per line on stdin, answers one JSON line on stdout:
//   {"id": 1, "op": "goto", "url": "http://127.0.0.1:8080/"} -> {"id": 1, "ok": true}
// ops: goto, eval (a JS expression, its JSON value), wait (until a JS expression is truthy),
// click (a CSS selector), fill (selector, text), scroll (selector, top), screenshot
// (path, optional selector), viewport (width, height), close.
// The browser is Debian's chromium (CHROMIUM, default /usr/bin/chromium): never a download.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const profile = mkdtempSync(join(tmpdir(), "execstream-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Tests evaluate expressions in the page; the page's CSP (no eval) would refuse them.
  bypassCSP: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
const consoleLines = [];
page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
page.on("pageerror", (error) => consoleLines.push(`pageerror: ${error.message}`));

async function run(command) {
  switch (command.op) {
    case "goto":
      await page.goto(command.url, { waitUntil: "load" });
      return null;
    case "eval":
      return await page.evaluate(command.expr);
    case "wait":
      await page.waitForFunction(command.expr, null, { timeout: command.timeout ?? 10000, polling: 50 });
      return await page.evaluate(command.expr);
    case "click":
      await page.click(command.selector, { timeout: command.timeout ?? 10000 });
      return null;
    case "fill":
      await page.fill(command.selector, command.text, { timeout: command.timeout ?? 10000 });
      return null;
    case "scroll":
      return await page.$eval(command.selector, (node, top) => {
        node.scrollTop = top;
        node.dispatchEvent(new Event("scroll"));
        return node.scrollTop;
      }, command.top);
    case "screenshot":
      if (command.selector) await page.locator(command.selector).screenshot({ path: command.path });
      else await page.screenshot({ path: command.path, fullPage: Boolean(command.fullPage) });
      return command.path;
    case "viewport":
      await page.setViewportSize({ width: command.width, height: command.height });
      return null;
    case "console":
      return consoleLines.splice(0);
    case "close":
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      process.exit(0);
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

process.stdout.write(JSON.stringify({ ready: true }) + "\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  try {
    const result = await run(command);
    process.stdout.write(JSON.stringify({ id: command.id, ok: true, result: result ?? null }) + "\n");
  } catch (error) {
    process.stdout.write(JSON.stringify({ id: command.id, ok: false, error: String(error?.message ?? error) }) + "\n");
  }
}
await context.close();
rmSync(profile, { recursive: true, force: true });
