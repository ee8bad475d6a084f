// Bundle the dashboard into the Python package: server/execstream_server/web/static/.
// The output is committed (so `pip install` needs no npm) and CI rebuilds it and fails on
// any difference (scripts/check_web). Deterministic: same inputs, same bytes.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "server", "execstream_server", "web", "static");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const name of readdirSync(join(here, "public"))) {
  copyFileSync(join(here, "public", name), join(out, name));
}
await build({
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022"],
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
});
