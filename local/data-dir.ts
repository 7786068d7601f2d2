/**
 * The layout of local mode's data directory, in one place for local mode itself and for the commands
 * that read it while it runs or after (`trace --local`, `dlq show|redrive --local`, `status --local`).
 * Light on purpose: no smtp-server, dynalite or SDK, so those commands start quickly.
 *
 *   emails/<messageId>          raw messages (S3)            mail/<gmail-address>/    Maildirs (Gmail)
 *   outbox/<id>.eml             bounces sent (SES outbound)  dynamodb/                the routing table
 *   queues/<queue>/             queue journals               queues/<queue>-dlq/      dead letters
 *   queues/<queue>-redrive/     dead letters handed back     events.jsonl             routing decisions
 *   outcomes.jsonl              what each stage did          tls/                     the STARTTLS certificate
 *   delivery-state.jsonl        delivery records, message progress, bounce claims (the routing table's, in AWS)
 */
import * as path from "node:path";

export const DEFAULT_DATA_DIR = ".ses-mail";
/** The bucket name notifications carry in local mode (SES: `ses-mail-storage-{account}-{env}`). */
export const LOCAL_BUCKET = "ses-mail-storage-local";

/** The queues of local mode by the role `ses-mail dlq --queue` names, and their folder under `queues/`. */
export const LOCAL_QUEUE_FOLDERS = {
  input: "input",
  forwarder: "gmail-forwarder",
  bouncer: "bouncer",
  retry: "gmail-forwarder-retry",
} as const;
export type LocalQueueRole = keyof typeof LOCAL_QUEUE_FOLDERS;
export const LOCAL_QUEUE_ROLES = Object.keys(LOCAL_QUEUE_FOLDERS) as LocalQueueRole[];

export function queueDir(dataDir: string, role: LocalQueueRole): string {
  return path.join(dataDir, "queues", LOCAL_QUEUE_FOLDERS[role]);
}

/** The role of a queue folder (`gmail-forwarder` → `forwarder`), as a dead-lettered outcome names its queue. */
export function queueRoleOf(folder: string): LocalQueueRole | undefined {
  return LOCAL_QUEUE_ROLES.find((role) => LOCAL_QUEUE_FOLDERS[role] === folder);
}

export const dataFiles = (dataDir: string) => ({
  events: path.join(dataDir, "events.jsonl"),
  outcomes: path.join(dataDir, "outcomes.jsonl"),
  emails: path.join(dataDir, "emails"),
  mail: path.join(dataDir, "mail"),
  outbox: path.join(dataDir, "outbox"),
  /** The forwarder's delivery records, message progress and bounce claims (adapters/local/delivery-state.ts). */
  deliveryState: path.join(dataDir, "delivery-state.jsonl"),
});

/**
 * How a command names this data directory: nothing for the default one (relative to where the command
 * runs), `--data-dir DIR` otherwise, so a printed command works as printed.
 */
export function dataDirOption(dataDir: string, cwd: string = process.cwd()): string {
  const resolved = path.resolve(cwd, dataDir);
  if (resolved === path.resolve(cwd, DEFAULT_DATA_DIR)) return "--local";
  const shown = path.relative(cwd, resolved);
  const text = shown && !shown.startsWith("..") && !path.isAbsolute(shown) ? shown : resolved;
  return `--local --data-dir ${/^[\w./@+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`}`;
}

/** The commands that show and redrive a queue's dead letters in this data directory. */
export function deadLetterCommands(dataDir: string, role: LocalQueueRole, cwd?: string): { show: string; redrive: string } {
  const where = dataDirOption(dataDir, cwd);
  return { show: `ses-mail dlq show --queue ${role} ${where}`, redrive: `ses-mail dlq redrive --queue ${role} ${where}` };
}
