/**
 * Local mode, as a user runs it: `ses-mail local` in its own process, real SMTP clients (nodemailer, with
 * STARTTLS) in this one, and beside it a bare smtp-server that accepts and discards (bench/local-sink.ts),
 * driven by the same clients in the same run, as the yardstick.
 * - Throughput: MESSAGES messages from CLIENTS concurrent clients (one SMTP connection each, messages
 *   sent back to back), to the sink and to local mode in turn, ROUNDS times; medians. Local mode's rate
 *   counts until the last message is in its Maildir.
 * - Latency: what local mode reports per message, from the SMTP 250 reply to the message being in its
 *   Maildir (every action done): under an offered load of OFFERED_RATE messages/s (sent on schedule
 *   whatever the replies), under saturation (the throughput rounds), and one message at a time.
 * - CPU per message: local mode's process (every thread) during the throughput rounds; split by stage
 *   from a separate run under a V8 CPU profile (bench/local-cpu.ts), scaled to the unprofiled figure.
 * - Memory: peak RSS of the local-mode process while one message just under 40 MB passes through,
 *   above its idle RSS just before (Linux: VmHWM after resetting it through /proc/<pid>/clear_refs;
 *   elsewhere, sampled).
 * Targets on a 2-core machine (issue 11): ≥ 150 messages/s and ≥ 0.25× the sink; at 50 messages/s
 * offered, p50 ≤ 30 ms and p99 ≤ 100 ms; ≤ 6 ms of CPU per message; peak RSS ≤ 2.5× the message size.
 * Wall-clock figures swing with whatever else the machine runs (the load average is printed, and how
 * long local mode's main thread waited for a CPU under the offered load); CPU time per message much less.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createTransport } from "nodemailer";
import { SES_MAX_MESSAGE_BYTES } from "../../core/limits";
import { spawnLocalMode, type LocalModeChild } from "../../tests/helpers/local-child";
import { CPU_STAGES, cpuByStage, runQueueWaitMs, threadCpuMs, type CpuProfile, type CpuStage } from "../local-cpu";
import { markdownTable, quantile, type BenchSuite } from "../suite";

const ROOT = path.resolve(__dirname, "..", "..");
const MESSAGES = 800;
const CLIENTS = 10;
const ROUNDS = 3;
const WARMUP = 40;
/** Sent one after the other, each waiting for the previous to be delivered: latency with no queue. */
const SEQUENTIAL = 30;
/** The offered load of the latency figures: messages per second, for OFFERED_SECONDS. */
const OFFERED_RATE = 50;
const OFFERED_SECONDS = 10;
/** Messages of the profiled run that splits the CPU by stage. */
const PROFILED_MESSAGES = 600;
/** Just under SES's limit, leaving room for the trace headers local mode adds. */
const LARGE_MESSAGE_BYTES = SES_MAX_MESSAGE_BYTES - 64 * 1024;
const TARGETS = { messagesPerSecond: 150, sinkFactor: 0.25, offeredP50Ms: 30, offeredP99Ms: 100, cpuMsPerMessage: 6, rssFactor: 2.5 };

const CONFIG = `config:
  ses-mail:domains:
    - bench.example.com
  ses-mail:routes:
    - recipient: "*@bench.example.com"
      actions:
        - type: forward-to-gmail
          target: bench@gmail.com
`;
const ZONE = { "sender.example": { TXT: [["v=spf1 ip4:127.0.0.1 -all"]] }, "_dmarc.sender.example": { TXT: [["v=DMARC1; p=none"]] } };

async function startLocalMode(dir: string, name: string, env?: Record<string, string>): Promise<{ child: LocalModeChild; port: number }> {
  const child = spawnLocalMode({
    config: path.join(dir, "Pulumi.bench.yaml"),
    dataDir: path.join(dir, name),
    resolver: path.join(dir, "zone.json"),
    ...(env ? { env } : {}),
  });
  return { child, port: await child.smtpPort() };
}

async function startSink(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, "bin/run-ts.js"), path.join(ROOT, "bench/local-sink.ts"), path.join(dir, "sink-tls")],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`the sink exited (${code}) before listening`)));
  });
  return { child, port };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  await exited;
}

/** Resolves with the elapsed ms of the next `count` message lines from `sender`. */
function collectLatencies(child: LocalModeChild, sender: string, count: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    child.onLine((line) => {
      if (!line.includes(` ${sender} → `) || latencies.length >= count) return;
      if (line.includes("FAILED")) reject(new Error(`a message failed: ${line}`));
      const ms = /\((\d+) ms\)$/.exec(line);
      if (ms) latencies.push(Number(ms[1]));
      if (latencies.length === count) resolve(latencies);
    });
  });
}

function message(sender: string, index: number, body = "A small message for the benchmark.\r\n"): string {
  return `From: ${sender}\r\nTo: user${index}@bench.example.com\r\nSubject: bench ${index}\r\nMessage-ID: <bench-${index}-${Date.now()}@sender.example>\r\n\r\n${body}`;
}

function transportTo(port: number, connections = 1) {
  return createTransport({
    host: "127.0.0.1",
    port,
    pool: true,
    maxConnections: connections,
    maxMessages: Infinity,
    tls: { rejectUnauthorized: false },
  });
}

/** `total` messages from `clients` connections, each sending back to back; resolves with the seconds it took. */
async function sendFromClients(port: number, sender: string, total: number, clients: number): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const transport = transportTo(port);
      try {
        for (let i = client; i < total; i += clients) {
          await transport.sendMail({ envelope: { from: sender, to: [`user${i}@bench.example.com`] }, raw: message(sender, i) });
        }
      } finally {
        transport.close();
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Messages at `rate` per second for `seconds`, each sent on schedule over a pool of connections, whatever the replies. */
async function sendAtRate(port: number, sender: string, rate: number, seconds: number): Promise<void> {
  const transport = transportTo(port, CLIENTS);
  try {
    const started = Date.now();
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < rate * seconds; i++) {
      const wait = started + (i * 1000) / rate - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      sends.push(transport.sendMail({ envelope: { from: sender, to: [`user${i}@bench.example.com`] }, raw: message(sender, i) }));
    }
    await Promise.all(sends);
  } finally {
    transport.close();
  }
}

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak RSS of `pid` while `work` runs: VmHWM after a reset where Linux allows it, else sampled every 5 ms. */
async function peakRss(pid: number, work: () => Promise<void>): Promise<{ peak: number; method: string }> {
  let resetWorked = false;
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    resetWorked = true;
  } catch {
    // not Linux, or not allowed
  }
  let sampled = procStatus(pid, "VmRSS") ?? 0;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, procStatus(pid, "VmRSS") ?? 0);
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const hwm = resetWorked ? procStatus(pid, "VmHWM") : undefined;
  return hwm ? { peak: Math.max(hwm, sampled), method: "VmHWM" } : { peak: sampled, method: "sampled every 5 ms" };
}

const median = (values: readonly number[]) => quantile(values, 0.5);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** One warm-up for a server: the first connections and TLS handshakes, the first compiled code paths. */
async function warmUp(port: number, child?: LocalModeChild): Promise<void> {
  const done = child ? collectLatencies(child, "warmup@sender.example", WARMUP) : Promise.resolve([]);
  await sendFromClients(port, "warmup@sender.example", WARMUP, CLIENTS);
  await done;
}

/** CPU per message by stage, from a run of its own under `--cpu-prof` (the profiler's overhead stays out of the headline figures). */
async function profiledRun(dir: string): Promise<{ byStage: Record<CpuStage, number>; totalMs: number } | undefined> {
  const profileDir = path.join(dir, "profile");
  const { child, port } = await startLocalMode(dir, "data-profiled", { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` });
  const pid = child.process.pid!;
  let window: { fromUs: number; toUs: number };
  let threads: ReturnType<typeof threadCpuMs>;
  try {
    await warmUp(port, child);
    const before = threadCpuMs(pid);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const done = collectLatencies(child, "profiled@sender.example", PROFILED_MESSAGES);
    await sendFromClients(port, "profiled@sender.example", PROFILED_MESSAGES, CLIENTS);
    await done;
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    const after = threadCpuMs(pid);
    threads =
      before && after
        ? {
            main: after.main - before.main,
            threadPool: after.threadPool - before.threadPool,
            v8: after.v8 - before.v8,
            worker: after.worker - before.worker,
            total: after.total - before.total,
          }
        : undefined;
  } finally {
    await stop(child.process);
  }
  // The main thread's profile (a worker thread writes one of its own, with a later sequence number).
  const [mainProfile] = fs.existsSync(profileDir)
    ? fs
        .readdirSync(profileDir)
        .filter((name) => name.endsWith(".cpuprofile"))
        .sort()
    : [];
  if (!threads || !mainProfile) return undefined;
  const profile = JSON.parse(fs.readFileSync(path.join(profileDir, mainProfile), "utf8")) as CpuProfile;
  return { byStage: cpuByStage(profile, window, threads, PROFILED_MESSAGES), totalMs: threads.total / PROFILED_MESSAGES };
}

export const suite: BenchSuite = {
  name: "local",
  title: "Local mode: SMTP accept → Maildir (ses-mail local in its own process), beside a bare smtp-server sink",
  async run(progress) {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-bench-local-"));
    fs.writeFileSync(path.join(dir, "Pulumi.bench.yaml"), CONFIG);
    fs.writeFileSync(path.join(dir, "zone.json"), JSON.stringify(ZONE));
    progress("starting ses-mail local and the smtp-server sink…");
    const sink = await startSink(dir);
    const { child, port } = await startLocalMode(dir, "data");
    const pid = child.process.pid!;
    try {
      progress(`warming up both with ${WARMUP} messages…`);
      await warmUp(sink.port);
      await warmUp(port, child);

      progress(`${SEQUENTIAL} messages one at a time (latency without queueing)…`);
      const sequential: number[] = [];
      {
        const transport = transportTo(port);
        try {
          for (let i = 0; i < SEQUENTIAL; i++) {
            const done = collectLatencies(child, "single@sender.example", 1);
            await transport.sendMail({
              envelope: { from: "single@sender.example", to: [`user${i}@bench.example.com`] },
              raw: message("single@sender.example", i),
            });
            sequential.push(...(await done));
          }
        } finally {
          transport.close();
        }
      }

      const sinkRates: number[] = [];
      const localRates: number[] = [];
      const cpuPerMessage: number[] = [];
      const saturated: number[] = [];
      const loads: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        progress(`round ${round}/${ROUNDS}: ${MESSAGES} messages from ${CLIENTS} clients to the sink, then to local mode…`);
        sinkRates.push(MESSAGES / (await sendFromClients(sink.port, `sink${round}@sender.example`, MESSAGES, CLIENTS)));
        const sender = `round${round}@sender.example`;
        const measured = collectLatencies(child, sender, MESSAGES);
        const before = threadCpuMs(pid);
        const started = process.hrtime.bigint();
        await sendFromClients(port, sender, MESSAGES, CLIENTS);
        saturated.push(...(await measured));
        localRates.push(MESSAGES / (Number(process.hrtime.bigint() - started) / 1e9));
        const after = threadCpuMs(pid);
        if (before && after) cpuPerMessage.push((after.total - before.total) / MESSAGES);
        loads.push(os.loadavg()[0]!);
      }

      progress(`${OFFERED_RATE} messages/s offered for ${OFFERED_SECONDS} s…`);
      const offered = collectLatencies(child, "offered@sender.example", OFFERED_RATE * OFFERED_SECONDS);
      const waitBefore = runQueueWaitMs(pid);
      await sendAtRate(port, "offered@sender.example", OFFERED_RATE, OFFERED_SECONDS);
      const offeredLatencies = await offered;
      const waitAfter = runQueueWaitMs(pid);
      const offeredWaitMs = waitBefore !== undefined && waitAfter !== undefined ? waitAfter - waitBefore : Number.NaN;
      const offeredLoad = os.loadavg()[0]!;

      progress("one message just under 40 MB…");
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const idle = procStatus(pid, "VmRSS") ?? Number.NaN;
      const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789abcdefghijklmn\r\n";
      const body = Buffer.alloc(LARGE_MESSAGE_BYTES - 200, line);
      const large = Buffer.concat([Buffer.from(message("large@sender.example", 0, "")), body]);
      let largeLatency = 0;
      const { peak, method } = await peakRss(pid, async () => {
        const done = collectLatencies(child, "large@sender.example", 1);
        const transport = createTransport({ host: "127.0.0.1", port, tls: { rejectUnauthorized: false } });
        try {
          await transport.sendMail({ envelope: { from: "large@sender.example", to: ["large@bench.example.com"] }, raw: large });
        } finally {
          transport.close();
        }
        largeLatency = (await done)[0] ?? Number.NaN;
      });
      const growth = peak - idle;
      const factor = growth / large.length;
      await stop(child.process);
      await stop(sink.child);

      progress(`${PROFILED_MESSAGES} messages under a CPU profile, to split the CPU by stage…`);
      const profiled = await profiledRun(dir);

      const rate = median(localRates);
      const sinkRate = median(sinkRates);
      const cpu = median(cpuPerMessage);
      const offeredP50 = quantile(offeredLatencies, 0.5);
      const offeredP99 = quantile(offeredLatencies, 0.99);
      // The profiled run's split, scaled to the unprofiled CPU per message.
      const scale = profiled && profiled.totalMs > 0 ? cpu / profiled.totalMs : Number.NaN;
      const stageMs = Object.fromEntries(
        CPU_STAGES.map((stage) => [stage, profiled ? profiled.byStage[stage] * scale : Number.NaN]),
      ) as Record<CpuStage, number>;
      const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
      const ms = (value: number) => `${value.toFixed(1)} ms`;
      return {
        table: markdownTable(
          ["figure", "value", "target", ""],
          [
            [
              `messages/s (${MESSAGES} messages, ${CLIENTS} clients, median of ${ROUNDS})`,
              `${rate.toFixed(0)} (rounds: ${localRates.map((r) => r.toFixed(0)).join(", ")})`,
              `≥ ${TARGETS.messagesPerSecond}`,
              verdict(rate >= TARGETS.messagesPerSecond),
            ],
            [
              "smtp-server sink, same clients (accepts and discards)",
              `${sinkRate.toFixed(0)} messages/s (rounds: ${sinkRates.map((r) => r.toFixed(0)).join(", ")})`,
              "",
              "",
            ],
            [
              "local mode ÷ sink",
              `${(rate / sinkRate).toFixed(2)}×`,
              `≥ ${TARGETS.sinkFactor}×`,
              verdict(rate / sinkRate >= TARGETS.sinkFactor),
            ],
            [
              `accept → Maildir p50, ${OFFERED_RATE} messages/s offered`,
              `${offeredP50} ms`,
              `≤ ${TARGETS.offeredP50Ms} ms`,
              verdict(offeredP50 <= TARGETS.offeredP50Ms),
            ],
            [
              `accept → Maildir p99, ${OFFERED_RATE} messages/s offered`,
              `${offeredP99} ms`,
              `≤ ${TARGETS.offeredP99Ms} ms`,
              verdict(offeredP99 <= TARGETS.offeredP99Ms),
            ],
            [
              "  meanwhile, local mode's main thread ready but waiting for a CPU",
              `${offeredWaitMs.toFixed(0)} ms (${(offeredWaitMs / (OFFERED_RATE * OFFERED_SECONDS)).toFixed(1)} ms per message)`,
              "",
              "",
            ],
            [
              "accept → Maildir p50 / p99, saturated (the rounds above)",
              `${quantile(saturated, 0.5)} ms / ${quantile(saturated, 0.99)} ms`,
              "",
              "",
            ],
            ["accept → Maildir p50, one message at a time", `${quantile(sequential, 0.5)} ms`, "", ""],
            [
              `CPU per message (local-mode process, all threads, median of ${ROUNDS})`,
              `${ms(cpu)} (rounds: ${cpuPerMessage.map((value) => value.toFixed(1)).join(", ")})`,
              `≤ ${TARGETS.cpuMsPerMessage} ms`,
              verdict(cpu <= TARGETS.cpuMsPerMessage),
            ],
            ["  intake (SMTP, TLS, spooling, trace headers)", ms(stageMs.intake), "", ""],
            ["  authentication (SPF, DKIM, DMARC)", ms(stageMs.authentication), "", ""],
            ["  routing (router, bus, events.jsonl)", ms(stageMs.routing), "", ""],
            ["  delivery (forwarder, Maildir, delivery state, console line)", ms(stageMs.delivery), "", ""],
            ["  file system (fsync, fdatasync, journal and file writes)", ms(stageMs["file system"]), "", ""],
            ["  other (garbage collection, event loop, Node internals)", ms(stageMs.other), "", ""],
            [
              "load average during the rounds / the offered load (other processes compete)",
              `${loads.map((load) => load.toFixed(2)).join(", ")} / ${offeredLoad.toFixed(2)}`,
              "",
              "",
            ],
            ["40 MB message: accept → Maildir", `${largeLatency} ms`, "", ""],
            [
              "40 MB message: peak RSS above idle",
              `${mib(growth)} (${factor.toFixed(2)}× the message; idle ${mib(idle)}, ${method})`,
              `≤ ${TARGETS.rssFactor}×`,
              verdict(factor <= TARGETS.rssFactor),
            ],
          ],
        ),
        figures: {
          messagesPerSecond: Number(rate.toFixed(1)),
          messagesPerSecondRounds: localRates.map((value) => Number(value.toFixed(1))),
          sinkMessagesPerSecond: Number(sinkRate.toFixed(1)),
          sinkMessagesPerSecondRounds: sinkRates.map((value) => Number(value.toFixed(1))),
          sinkFactor: Number((rate / sinkRate).toFixed(3)),
          offeredRate: OFFERED_RATE,
          offeredLatencyP50Ms: offeredP50,
          offeredLatencyP99Ms: offeredP99,
          offeredRunQueueWaitMs: Number(offeredWaitMs.toFixed(0)),
          latencyP50Ms: quantile(saturated, 0.5),
          latencyP99Ms: quantile(saturated, 0.99),
          sequentialLatencyP50Ms: quantile(sequential, 0.5),
          cpuMsPerMessage: Number(cpu.toFixed(2)),
          cpuMsPerMessageRounds: cpuPerMessage.map((value) => Number(value.toFixed(2))),
          cpuMsPerMessageByStage: Object.fromEntries(CPU_STAGES.map((stage) => [stage, Number(stageMs[stage].toFixed(2))])),
          loadAverages: loads.map((load) => Number(load.toFixed(2))),
          offeredLoadAverage: Number(offeredLoad.toFixed(2)),
          largeMessageBytes: large.length,
          largeMessageLatencyMs: largeLatency,
          idleRssBytes: idle,
          peakRssBytes: peak,
          peakRssAboveIdleBytes: growth,
          peakRssFactor: Number(factor.toFixed(2)),
          rssMethod: method,
          cpus: os.cpus().length,
        },
      };
    } finally {
      await stop(child.process);
      await stop(sink.child);
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  },
};
