// Bundle the dashboard into the Python package: server/execstream_server/web/static/.
// The output is committed (so `pip install` needs no npm) and CI rebuilds it and fails on
// any difference (scripts/check_web). Deterministic: same inputs, same bytes.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "server", "execstream_server", "web", "static");

// protobuf-es stores a map entry with `obj[key] = value`, so a "__proto__" key (a label
// name like any other) sets the object's prototype instead and the entry is lost. Store
// every entry as an own property. The build fails if that line changed in an upgrade.
const MAP_SET = "this.obj[mapKeyToLocal(key)] = mapValueToLocal(this._field, value);";
const OWN_MAP_SET =
  "Object.defineProperty(this.obj, mapKeyToLocal(key), " +
  "{ value: mapValueToLocal(this._field, value), writable: true, enumerable: true, configurable: true });";
const ownMapKeys = {
  name: "own-map-keys",
  setup(esbuild) {
    let patched = false;
    esbuild.onEnd(() => {
      if (!patched) throw new Error("protobuf-es's reflect.js was not bundled; review web/build.mjs");
    });
    esbuild.onLoad({ filter: /@bufbuild[\\/]protobuf[\\/]dist[\\/]esm[\\/]reflect[\\/]reflect\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(MAP_SET)) {
        throw new Error(`${args.path}: protobuf-es's map setter changed; review web/build.mjs`);
      }
      patched = true;
      return { contents: source.replace(MAP_SET, OWN_MAP_SET), loader: "js" };
    });
  },
};

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
  plugins: [ownMapKeys],
});
