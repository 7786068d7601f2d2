/**
 * How a command finds the local mode running on a data directory: at start, local mode writes
 * `DATA_DIR/local-mode.json` with its endpoints (ports may be chosen with `--dynamodb-port`, or picked
 * free with 0) and the stack config it runs with; it removes the file when it stops. `ses-mail rules …
 * --local [--data-dir DIR]` reads it, so a command reaches the instance on whatever port it listens.
 * A file left by a process that is gone (kill -9, a crash) is recognized as such.
 *
 * Light on purpose (node:fs only): every CLI command that talks to local mode loads it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const INSTANCE_FILE = "local-mode.json";

/** Where local mode listens unless told otherwise (`ses-mail local --smtp-port/--dynamodb-port/--listen`). */
export const DEFAULT_SMTP_PORT = 2525;
export const DEFAULT_DYNAMODB_PORT = 8000;
export const DEFAULT_HOST = "127.0.0.1";

export interface LocalInstance {
  readonly pid: number;
  readonly hostname: string;
  /** `http://127.0.0.1:8000`: the DynamoDB endpoint holding the routing table. */
  readonly dynamodbEndpoint: string;
  /** `127.0.0.1:2525`. */
  readonly smtp: string;
  /** The stack whose config it runs with, or the config file given with `--config` (absolute). */
  readonly stack?: string;
  readonly configFile?: string;
  readonly startedAt: string;
}

export function instanceFile(dataDir: string): string {
  return path.join(dataDir, INSTANCE_FILE);
}

/** Records the running instance (written whole under a temporary name, then renamed). */
export async function writeInstance(dataDir: string, instance: LocalInstance): Promise<void> {
  const file = instanceFile(dataDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(temporary, `${JSON.stringify(instance, null, 2)}\n`);
  await fs.promises.rename(temporary, file);
}

/** Removes the record, if it is still this process's. */
export async function removeInstance(dataDir: string, pid: number = process.pid): Promise<void> {
  const found = readInstanceFile(dataDir);
  if (found.kind === "found" && found.instance.pid === pid) await fs.promises.rm(instanceFile(dataDir), { force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export type InstanceLookup =
  | { readonly kind: "found"; readonly instance: LocalInstance }
  /** No record: local mode is not running there (or never ran). */
  | { readonly kind: "none" }
  /** A record whose process is gone: local mode stopped without removing it (killed, crashed). */
  | { readonly kind: "stale"; readonly instance: LocalInstance };

function readInstanceFile(dataDir: string): InstanceLookup {
  let text: string;
  try {
    text = fs.readFileSync(instanceFile(dataDir), "utf8");
  } catch {
    return { kind: "none" };
  }
  try {
    const value = JSON.parse(text) as Partial<LocalInstance>;
    if (!Number.isInteger(value.pid) || typeof value.dynamodbEndpoint !== "string" || typeof value.hostname !== "string")
      return { kind: "none" };
    return { kind: "found", instance: value as LocalInstance };
  } catch {
    return { kind: "none" };
  }
}

/** The local mode running on `dataDir`, as its record says; a record of a process that is gone is `stale`. */
export function findInstance(dataDir: string): InstanceLookup {
  const found = readInstanceFile(dataDir);
  if (found.kind !== "found") return found;
  // A record written on another host (a shared directory) cannot be checked from here: trust it.
  if (found.instance.hostname === os.hostname() && !processAlive(found.instance.pid)) return { kind: "stale", instance: found.instance };
  return found;
}
