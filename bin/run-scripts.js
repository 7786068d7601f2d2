#!/usr/bin/env node
"use strict";
// Runs npm scripts side by side and reports each one whole, in the order given, as it finishes:
// `node bin/run-scripts.js typecheck lint:eslint` is `npm run typecheck && npm run lint:eslint` in
// about the time of the slowest. The checks before the tests are independent and each mostly uses one
// core (eslint, prettier and knip each take 1.5-3 s warm and 9-17 s cold here; tsc 0.5 s warm, 4-6 s
// after an edit), so running them one after another left a core idle. Exits with the first failing
// script's code, after all have ended.
const { spawn } = require("node:child_process");

const names = process.argv.slice(2);
if (names.length === 0) {
  process.stderr.write("usage: node bin/run-scripts.js SCRIPT [SCRIPT ...]\n");
  process.exit(2);
}

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const runs = names.map(
  (name) =>
    new Promise((resolve) => {
      const output = [];
      const child = spawn(npm, ["run", "--silent", name], { stdio: ["ignore", "pipe", "pipe"], shell: process.platform === "win32" });
      child.stdout.on("data", (chunk) => output.push(chunk));
      child.stderr.on("data", (chunk) => output.push(chunk));
      child.on("error", (error) => resolve({ name, code: 1, output: [Buffer.from(`${error.message}\n`)] }));
      child.on("close", (code, signal) => resolve({ name, code: code ?? (signal ? 1 : 0), output }));
    }),
);

(async () => {
  let failed = 0;
  for (const run of runs) {
    const { name, code, output } = await run;
    const text = Buffer.concat(output).toString("utf8");
    process.stdout.write(`> ${name}: ${code === 0 ? "ok" : `failed (exit code ${code})`}\n`);
    if (text.trim().length > 0) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    if (code !== 0 && failed === 0) failed = code;
  }
  process.exitCode = failed;
})();
