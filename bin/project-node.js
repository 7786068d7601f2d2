"use strict";
// The CLI, local mode and the bench run on the Node the Lambdas run (Node 24), which `npm ci` installs
// into node_modules (the `node` devDependency). npm scripts and npx put it first on PATH; this covers
// the other ways in (`node bin/ses-mail.js` with an older system Node): run the same command again under
// the project's Node, or say in one line what to do.
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

/** The oldest Node the sources run on (mailauth 7 and Google's libraries need 22.19). */
const MIN_NODE = [22, 19];

function isOldNode() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1]);
}

/** True when this process handed over to the project's Node (the caller must then do nothing more). */
function runUnderProjectNode() {
  if (!isOldNode()) return false;
  const projectNode = path.join(__dirname, "..", "node_modules", "node", "bin", "node");
  if (!fs.existsSync(projectNode)) {
    process.stderr.write(
      `ses-mail needs Node.js ${MIN_NODE.join(".")} or newer, and this is ${process.version}: run \`npm ci\`, which installs the Node it runs on.\n`,
    );
    process.exit(1);
  }
  const child = spawn(projectNode, process.argv.slice(1), { stdio: "inherit" });
  // Ctrl-C reaches the child from the terminal; this process waits for it to finish shutting down.
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return true;
}

module.exports = { runUnderProjectNode };
