// Builds the console into src/stackyard/ui/: the bundle (app.js) and its styles (app.css), and build.json with
// the hash of every source they were made from (tests/test_console_bundle.py recomputes it). The page itself,
// src/stackyard/ui/index.html, is written by hand.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "src/stackyard/ui");

/** Every file the bundle is made from, as repository paths, sorted (the same list as the Python test). */
export function sources() {
  const walk = (folder) => readdirSync(join(root, folder)).flatMap((entry) => {
    const path = `${folder}/${entry}`;
    return statSync(join(root, path)).isDirectory() ? walk(path) : [path];
  });
  return [...walk("ui/src"), ...walk("examples/pipelines").filter((p) => p.endsWith(".yml")),
    "ui/build.mjs", "ui/package.json", "ui/package-lock.json"].sort();
}

export function sourceHash() {
  const hash = createHash("sha256");
  for (const path of sources()) {
    hash.update(`${path}\n`);
    hash.update(readFileSync(join(root, path)));
    hash.update("\n");
  }
  return hash.digest("hex");
}

await build({
  entryPoints: [join(root, "ui/src/main.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome110", "firefox115", "safari16"],
  loader: { ".yml": "text" },
  legalComments: "eof",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
writeFileSync(join(out, "build.json"), `${JSON.stringify({ sources: sourceHash(), files: sources().length }, null, 2)}\n`);
console.log(`built ${relative(root, out)}/app.js from ${sources().length} sources`);
