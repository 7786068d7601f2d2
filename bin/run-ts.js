#!/usr/bin/env node
"use strict";
// `node bin/run-ts.js file.ts [args…]`: runs a TypeScript entry point of this project (see register-ts.js).
if (!require("./project-node").runUnderProjectNode()) {
  require("./register-ts");
  const path = require("node:path");
  const [file] = process.argv.splice(2, 1);
  if (!file) {
    console.error("usage: node bin/run-ts.js <file.ts> [args…]");
    process.exit(2);
  }
  require(path.resolve(file));
}
