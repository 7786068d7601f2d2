#!/usr/bin/env node
"use strict";
// The `ses-mail` command. Runs the TypeScript sources directly (see register-ts.js).
// The CLI never traces. Without this, loading Powertools' Tracer (through the handlers the CLI and local
// mode run) puts the X-Ray SDK in automatic mode, whose async hook makes every promise several times
// slower: local mode measured a third of its throughput lost to it.
process.env.AWS_XRAY_MANUAL_MODE ??= "true";
// The handlers publish CloudWatch metrics as EMF lines on stdout, which in a terminal are noise.
process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
if (!require("./project-node").runUnderProjectNode()) {
  require("./register-ts");
  require("../cli/main.ts")
    .main(process.argv.slice(2))
    .then((code) => {
      process.exitCode = code;
    });
}
