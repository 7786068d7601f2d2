"use strict";
// Child-process entry that stands in for the Lambda runtime: loads a serialized function's
// __index.js (sloppy-mode CommonJS, as Lambda loads it), invokes `handler` with the event in
// argv[3], and writes { ok, result | error } to argv[4]. Run with a clean environment.
const fs = require("node:fs");
const path = require("node:path");

const [dir, eventFile, outFile] = process.argv.slice(2);
const write = (value) => fs.writeFileSync(outFile, JSON.stringify(value));
try {
  const module = require(path.resolve(dir, "__index.js"));
  const event = JSON.parse(fs.readFileSync(eventFile, "utf8"));
  const context = { awsRequestId: "test-request", functionName: "archive-test", getRemainingTimeInMillis: () => 30000 };
  Promise.resolve(module.handler(event, context)).then(
    (result) => write({ ok: true, result }),
    (error) =>
      write({ ok: false, error: { name: error && error.name, message: String(error && error.message), code: error && error.code } }),
  );
} catch (error) {
  write({ ok: false, error: { name: error && error.name, message: String(error && error.message), phase: "load" } });
}
