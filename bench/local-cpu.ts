/**
 * Where local mode's CPU goes, for the local-mode bench: the CPU time of each of its threads (Linux,
 * /proc/<pid>/task), and the main thread's share split by what it was doing, from a V8 CPU profile
 * (`node --cpu-prof`) of the same run.
 *
 * Each profile sample is put in the category of the innermost frame that says what it was for (the
 * stack is read from the running function outwards): a call into Node's fs module is the file system,
 * whatever asked for it; a frame of one of local mode's own files, or of mailauth or smtp-server, names
 * its stage; frames of other packages (Powertools, zod, streams) and of Node's internals are
 * passed over, so they count for the stage that called them. Samples with no such frame (garbage
 * collection, the event loop's own work) are "other". The thread pool's CPU (the fs calls that run
 * there: fsync, fdatasync, unlink, large writes) counts as file system; V8's helper threads (garbage
 * collection) and the DynamoDB worker (rules, read once per change) as other.
 */
import * as fs from "node:fs";

export const CPU_STAGES = ["intake", "authentication", "routing", "delivery", "file system", "other"] as const;
export type CpuStage = (typeof CPU_STAGES)[number];

/** What `--cpu-prof` writes (the fields read here). */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string };
    readonly children?: readonly number[];
  }>;
  /** Microseconds on the monotonic clock process.hrtime reads (the same in every process of the machine). */
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Local mode's files by the stage they serve; pipeline.ts serves two, told apart by function. */
const FILE_STAGES: ReadonlyArray<readonly [RegExp, CpuStage]> = [
  [/\/adapters\/local\/(durable-file|append-log|queue-journal|json-lines)\.ts$/, "file system"],
  [/\/local\/(intake|headers|notification|quoted-paths|data-lock)\.ts$/, "intake"],
  [/\/(local\/(authentication|resolver)\.ts|node_modules\/mailauth\/)/, "authentication"],
  [
    /\/(handlers\/router|core\/(routing|rules|notification|decision|verdicts)|adapters\/local\/(cached-rules|event-pattern))\.ts$/,
    "routing",
  ],
  [
    /\/(handlers\/(gmail-forwarder|bouncer|raw-message|outcomes)|core\/(delivery|outcomes|dsn|backscatter|mail-headers)|adapters\/local\/(maildir|delivery-state|file-message-store|outbox)|local\/(handlers|log-line|storage|queue-bodies|crash-points))\.ts$/,
    "delivery",
  ],
  [/\/node_modules\/smtp-server\//, "intake"],
];

/** Functions of local/pipeline.ts that are the Pipe and the bus; the rest of it hands records to the handlers. */
const PIPELINE_ROUTING = new Set(["pipe", "putOnBus", "decisionEvent", "rule"]);

function stageOfFrame(frame: { functionName: string; url: string }): CpuStage | undefined {
  if (/^node:(internal\/)?fs/.test(frame.url)) return "file system";
  if (frame.url.endsWith("/local/pipeline.ts")) return PIPELINE_ROUTING.has(frame.functionName) ? "routing" : "delivery";
  for (const [pattern, stage] of FILE_STAGES) if (pattern.test(frame.url)) return stage;
  return undefined;
}

/**
 * The main thread's busy time between two instants (µs on the monotonic clock), by stage, in µs.
 * Idle samples are left out.
 */
export function mainThreadByStage(profile: CpuProfile, fromUs: number, toUs: number): Record<CpuStage, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageOfNode = new Map<number, CpuStage | "idle">();
  const stageOf = (id: number): CpuStage | "idle" => {
    const known = stageOfNode.get(id);
    if (known) return known;
    let stage: CpuStage | "idle" = byId.get(id)?.callFrame.functionName === "(idle)" ? "idle" : "other";
    for (let current: number | undefined = id; current !== undefined && stage !== "idle"; current = parent.get(current)) {
      const found = stageOfFrame(byId.get(current)!.callFrame);
      if (found) {
        stage = found;
        break;
      }
    }
    stageOfNode.set(id, stage);
    return stage;
  };
  const totals = Object.fromEntries(CPU_STAGES.map((stage) => [stage, 0])) as Record<CpuStage, number>;
  let time = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    time += delta;
    if (time < fromUs || time > toUs) return;
    const stage = stageOf(id);
    if (stage !== "idle") totals[stage] += delta;
  });
  return totals;
}

/** CPU time (user + system, ms) of a process's threads, summed by kind; Linux only (undefined elsewhere). */
export function threadCpuMs(pid: number): { main: number; threadPool: number; v8: number; worker: number; total: number } | undefined {
  try {
    const sums = { main: 0, threadPool: 0, v8: 0, worker: 0, total: 0 };
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      // After the command name: utime and stime are fields 14 and 15 of the full line, in clock ticks (100/s).
      const fields = fs
        .readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
        .replace(/^.*\) /, "")
        .split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * 10;
      sums.total += ms;
      if (tid === String(pid)) sums.main += ms;
      else if (name.startsWith("libuv-worker")) sums.threadPool += ms;
      else if (name.startsWith("V8")) sums.v8 += ms;
      else sums.worker += ms;
    }
    return sums;
  } catch {
    return undefined;
  }
}

/**
 * How long a thread has been runnable but waiting for a CPU (ms, the scheduler's run-queue wait, the
 * second field of /proc/<pid>/task/<tid>/schedstat); Linux only (undefined elsewhere). On a machine
 * other processes keep busy, this is the part of a latency that no change to local mode shortens.
 */
export function runQueueWaitMs(pid: number, tid = pid): number | undefined {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(" ");
    return Number(fields[1]) / 1e6;
  } catch {
    return undefined;
  }
}

/**
 * CPU per message by stage (ms): the main thread's CPU split as its profile samples were, plus the thread
 * pool as file system and the other threads as other.
 */
export function cpuByStage(
  profile: CpuProfile,
  window: { readonly fromUs: number; readonly toUs: number },
  threads: { main: number; threadPool: number; v8: number; worker: number },
  messages: number,
): Record<CpuStage, number> {
  const busy = mainThreadByStage(profile, window.fromUs, window.toUs);
  const sampled = CPU_STAGES.reduce((sum, stage) => sum + busy[stage], 0);
  const perMessage = Object.fromEntries(
    CPU_STAGES.map((stage) => [stage, sampled > 0 ? (threads.main * busy[stage]) / sampled / messages : 0]),
  ) as Record<CpuStage, number>;
  perMessage["file system"] += threads.threadPool / messages;
  perMessage.other += (threads.v8 + threads.worker) / messages;
  return perMessage;
}
