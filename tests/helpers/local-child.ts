/**
 * `ses-mail local` as a child process, the way an operator runs it: for the crash-and-restart tests
 * (which kill it) and the local-mode bench (which measures it from outside). Its output is collected
 * line by line so a caller can wait for a line or watch every line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

/**
 * How long a test that starts local mode as a child process may take: each start loads the whole
 * pipeline (about 2 s alone), and on a loaded 2-core machine a test with two starts measured over 30 s.
 */
export const LOCAL_CHILD_TEST_TIMEOUT_MS = 120_000;

export interface LocalModeChild {
  readonly process: ChildProcess;
  /** Every line printed so far (stdout and stderr). */
  readonly output: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (printed so far or later) matching `pattern`; rejects if it exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  /** Calls `listener` with every line printed from now on. */
  onLine(listener: (line: string) => void): void;
  /** The SMTP port it listens on, from its start-up banner. */
  smtpPort(): Promise<number>;
}

/** Kills with SIGKILL every child still running (and waits for it), emptying `children`: a test's cleanup. */
export async function killChildren(children: LocalModeChild[]): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) continue;
    child.process.kill("SIGKILL");
    await child.exited;
  }
}

export interface LocalModeChildOptions {
  /** A stack config file (Pulumi.<stack>.yaml form). */
  readonly config: string;
  readonly dataDir: string;
  /** A hermetic DNS zone file for SPF/DKIM/DMARC. */
  readonly resolver?: string;
  readonly cwd?: string;
  /** Added to (or, when undefined, removed from) this process's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function spawnLocalMode(options: LocalModeChildOptions): LocalModeChild {
  const env: NodeJS.ProcessEnv = { ...process.env, POWERTOOLS_LOG_LEVEL: "ERROR" };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const args = [
    path.join(ROOT, "bin/ses-mail.js"),
    "local",
    "--config",
    options.config,
    "--data-dir",
    options.dataDir,
    "--smtp-port",
    "0",
    "--dynamodb-port",
    "0",
  ];
  if (options.resolver) args.push("--resolver", options.resolver);
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, env, stdio: ["ignore", "pipe", "pipe"] });

  const output: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  let partial = "";
  const onData = (chunk: Buffer) => {
    partial += chunk.toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      output.push(line);
      for (const listener of [...listeners]) listener(line);
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

  const handle: LocalModeChild = {
    process: child,
    output,
    exited,
    onLine: (listener) => void listeners.push(listener),
    waitFor(pattern) {
      const seen = output.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const listener = (line: string) => {
          if (!pattern.test(line)) return;
          listeners.splice(listeners.indexOf(listener), 1);
          resolve(line);
        };
        listeners.push(listener);
        void exited.then(({ code, signal }) =>
          reject(new Error(`local mode exited (${code ?? signal}) before printing ${pattern}; output:\n${output.join("\n")}`)),
        );
      });
    },
    async smtpPort() {
      const line = await handle.waitFor(/^\s+SMTP\s+127\.0\.0\.1:\d+/);
      return Number(/:(\d+)/.exec(line)![1]);
    },
  };
  return handle;
}
