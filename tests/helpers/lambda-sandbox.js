"use strict";
// Stands in for the Lambda Node.js runtime around an unpacked code archive (argv[2]): the handler's
// `require`s resolve inside the archive (as /var/task/node_modules) and then only through NODE_PATH (as
// /var/runtime/node_modules, which holds the AWS SDK v3). The folders above the archive are never searched,
// so a package missing from the archive fails here as it would in Lambda. Invokes `handler` with the event
// in argv[3] and writes { ok, result | error, timings } to argv[4]; `timings` (ms) is Node's start-up before
// this script, loading `__index.js` (which runs the callback factory: a Lambda's init) and the first
// invocation, in wall-clock time and in CPU time (user + system, steadier on a busy machine).
const { performance } = require("node:perf_hooks");
const bootMs = performance.now();
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

const [dir, eventFile, outFile] = process.argv.slice(2);
const root = fs.realpathSync(path.resolve(dir));
const inside = (file) => file === root || file.startsWith(root + path.sep);
const nodeModulePaths = Module._nodeModulePaths;
Module._nodeModulePaths = function confinedNodeModulePaths(from) {
  const paths = nodeModulePaths.call(this, from);
  return inside(path.resolve(from)) ? paths.filter(inside) : paths;
};

const timings = { bootMs };
const write = (value) => fs.writeFileSync(outFile, JSON.stringify({ ...value, timings }));
const failure = (error, phase) => ({
  ok: false,
  error: { name: error && error.name, message: String(error && error.message), code: error && error.code, ...(phase ? { phase } : {}) },
});
try {
  const event = JSON.parse(fs.readFileSync(eventFile, "utf8"));
  const cpuMs = (since) => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  const loading = performance.now();
  const loadingCpu = process.cpuUsage();
  const handlerModule = require(path.join(root, "__index.js"));
  const invoking = performance.now();
  const invokingCpu = process.cpuUsage();
  timings.loadMs = invoking - loading;
  timings.loadCpuMs = cpuMs(loadingCpu);
  const context = { awsRequestId: "sandbox-request", functionName: "sandbox", getRemainingTimeInMillis: () => 30000 };
  const settle = (value) => {
    timings.invokeMs = performance.now() - invoking;
    timings.invokeCpuMs = cpuMs(invokingCpu);
    write(value);
  };
  Promise.resolve(handlerModule.handler(event, context)).then(
    (result) => settle({ ok: true, result }),
    (error) => settle(failure(error)),
  );
} catch (error) {
  write(failure(error, "load"));
}
