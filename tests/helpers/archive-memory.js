"use strict";
// Child process for tests/helpers/forwarder-memory.ts: stands in for the Lambda runtime like
// tests/helpers/invoke-archive.js, and measures memory. Loads a serialized function's __index.js,
// invokes `handler` once with the warm-up event (so clients, schemas and caches exist, as in a warm
// container), then resets the peak RSS and invokes it with the measured event.
// argv: <archive dir> <warm-up event file> <measured event file> <result file>
const fs = require("node:fs");
const path = require("node:path");
const { setInterval, clearInterval } = require("node:timers");

const [dir, warmupFile, eventFile, outFile] = process.argv.slice(2);

/** Linux: VmHWM (peak RSS) in bytes, resettable through /proc/self/clear_refs; elsewhere undefined. */
function readPeak() {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function resetPeak() {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const context = { awsRequestId: "bench", functionName: "bench", getRemainingTimeInMillis: () => 300000 };
  const { handler } = require(path.resolve(dir, "__index.js"));
  const warmup = await handler(JSON.parse(fs.readFileSync(warmupFile, "utf8")), context);
  const baseline = process.memoryUsage().rss;
  const exact = resetPeak();
  let sampled = baseline;
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 5);
  const started = process.hrtime.bigint();
  const result = await handler(JSON.parse(fs.readFileSync(eventFile, "utf8")), context);
  const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(sampler);
  const peak = exact ? readPeak() : sampled;
  fs.writeFileSync(outFile, JSON.stringify({ ok: true, warmup, result, baseline, peak, exact, durationMs }));
}

main().catch((error) => {
  fs.writeFileSync(outFile, JSON.stringify({ ok: false, error: String(error && error.stack) }));
});
