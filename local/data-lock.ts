/**
 * One local mode per data directory. Two on the same directory would share its queues and its LevelDB
 * (which the second cannot open: it failed with a raw "Database is closed"), so the first takes
 * `DATA_DIR/ses-mail.lock`, a small JSON file naming its process, and a second start refuses in one
 * line naming that process.
 *
 * A lock whose process is gone (killed with SIGKILL, a crash, a power cut) is stale and taken over.
 * A process id alone could have been reused by an unrelated process since, so on Linux the lock also
 * records the boot and the process's start time, and a live process with another start time does not
 * hold it. A lock written on another host (a shared data directory) cannot be checked from here and
 * is refused with its host's name.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { errorCode } from "../adapters/local/durable-file";
import { LocalStartError } from "./dynamodb";

export const LOCK_FILE = "ses-mail.lock";

/** How many times a start tries to take a lock another start is taking or breaking at the same moment. */
const LOCK_ATTEMPTS = 5;

export interface LockHolder {
  readonly pid: number;
  readonly hostname: string;
  /** The boot and the process's start time (Linux); tells a reused process id from the holder. */
  readonly processStart?: string;
  /** When the lock was taken (ISO 8601). */
  readonly since: string;
}

export interface DataDirectoryLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Removes the lock file, if it is still this lock. */
  release(): Promise<void>;
}

/** `<boot id>/<start time in clock ticks>` of a process, from /proc (Linux); undefined elsewhere or when it is gone. */
export function processStart(pid: number): string | undefined {
  try {
    const bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22, counted after the command name, which is in parentheses and may hold anything.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTime = fields[22 - 3];
    return startTime ? `${bootId}/${startTime}` : undefined;
  } catch {
    return undefined;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isInteger(value.pid) || typeof value.hostname !== "string" || typeof value.since !== "string") return undefined;
    return {
      pid: value.pid!,
      hostname: value.hostname,
      since: value.since,
      ...(typeof value.processStart === "string" ? { processStart: value.processStart } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names may still be running: false only when that is certain. */
export function holderAlive(holder: LockHolder): boolean {
  if (holder.hostname !== os.hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if (errorCode(error) === "ESRCH") return false;
  }
  if (holder.processStart === undefined) return true;
  const current = processStart(holder.pid);
  return current === undefined || current === holder.processStart;
}

function describeHolder(holder: LockHolder, dataDir: string): string {
  const where = holder.hostname === os.hostname() ? "" : ` on ${holder.hostname}`;
  const local = holder.hostname === os.hostname();
  return (
    `the data directory ${dataDir} is in use by local mode in process ${holder.pid}${where} (since ${holder.since}): ` +
    (local
      ? "stop it first, or give this one another --data-dir"
      : `stop it there, or remove ${path.join(dataDir, LOCK_FILE)} if it is gone`)
  );
}

/** Creates `file` with `text` only if it does not exist, whole or not at all (a link of a finished file). */
async function createWhole(file: string, text: string): Promise<boolean> {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await fs.promises.writeFile(temporary, text, { mode: 0o644, flag: "wx" });
  try {
    await fs.promises.link(temporary, file);
    return true;
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  } finally {
    await fs.promises.rm(temporary, { force: true });
  }
}

/**
 * Moves a stale lock aside, unless another start replaced it meanwhile (then it is put back). Two
 * starts that found the same stale lock at once cannot both break it and both run.
 */
async function breakStaleLock(file: string, staleText: string): Promise<void> {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    await fs.promises.rename(file, aside);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return;
    throw error;
  }
  const moved = await fs.promises.readFile(aside, "utf8");
  if (moved !== staleText) {
    // Someone else's fresh lock: put it back (the next attempt then sees its holder).
    await fs.promises.link(aside, file).catch(() => undefined);
  }
  await fs.promises.rm(aside, { force: true });
}

/**
 * Takes the lock on `dataDir` (which must exist) for this process. Throws LocalStartError naming the
 * holder when another live local mode has it; takes over a stale one.
 */
export async function lockDataDirectory(dataDir: string, now: Date = new Date()): Promise<DataDirectoryLock> {
  const file = path.join(dataDir, LOCK_FILE);
  const start = processStart(process.pid);
  const holder: LockHolder = {
    pid: process.pid,
    hostname: os.hostname(),
    ...(start ? { processStart: start } : {}),
    since: now.toISOString(),
  };
  const text = `${JSON.stringify(holder)}\n`;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    if (await createWhole(file, text)) {
      return {
        file,
        holder,
        async release() {
          const current = await fs.promises.readFile(file, "utf8").catch(() => undefined);
          if (current === text) await fs.promises.rm(file, { force: true });
        },
      };
    }
    let existing: string;
    try {
      existing = await fs.promises.readFile(file, "utf8");
    } catch (error) {
      if (errorCode(error) === "ENOENT") continue;
      throw error;
    }
    const other = parseHolder(existing);
    // A lock is written whole, so one that does not parse was not written by local mode: taken over.
    if (other && holderAlive(other)) throw new LocalStartError(describeHolder(other, dataDir));
    await breakStaleLock(file, existing);
  }
  throw new LocalStartError(`cannot take the lock ${file}: other starts kept taking it; is local mode starting twice on ${dataDir}?`);
}
