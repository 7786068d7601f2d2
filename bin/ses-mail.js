#!/usr/bin/env node
"use strict";
// The `ses-mail` command. Runs the TypeScript sources directly (see register-ts.js).
// The AWS SDK warns on every run that its 2027 releases will need Node 22; our lockfile pins a
// release that supports Node 20, so that notice is noise for an operator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
// The CLI never traces. Without this, loading Powertools' Tracer (through the handlers the CLI and local
// mode run) puts the X-Ray SDK in automatic mode, whose async hook makes every promise several times
// slower: local mode measured a third of its throughput lost to it.
process.env.AWS_XRAY_MANUAL_MODE ??= "true";
// The handlers publish CloudWatch metrics as EMF lines on stdout, which in a terminal are noise.
process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
require("./register-ts");
require("../cli/main.ts")
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
