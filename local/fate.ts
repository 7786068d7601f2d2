/**
 * The FateReader of local mode (core/fate.ts): a message's fate from what the data directory holds,
 * read while local mode runs or after it stopped.
 *
 * - the decision: `events.jsonl` (one EventBridge event per routing decision);
 * - every outcome with its time: `outcomes.jsonl` (a routed outcome there carries no decision; the one
 *   from events.jsonl is put back);
 * - where the message is now: the Maildir file of each import (found by its id in `new/` or `cur/`), the
 *   DSN in `outbox/`, a parked delivery in the retry queue's journal, a dead letter in `queues/*-dlq/`
 *   with its error and the command that redrives it, and the raw message in `emails/`, kept or deleted.
 *   (The retry queue's journal is `queues/journal.jsonl`, shared with the other queues.)
 *
 * outcomes.jsonl is a record, not a guarantee (no fsync): what a crash cut from it shows as a gap
 * between the decision and where the message is, never as a false place, since places are read from
 * the files themselves.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import { parseAddress } from "../core/addresses";
import type { DecisionDetail } from "../core/decision";
import { placesFromOutcomes, type FatePlace, type FateReader, type MessageFate } from "../core/fate";
import type { Outcome } from "../core/outcomes";
import { placementFor } from "../adapters/local/maildir";
import { isNotFound } from "../adapters/local/durable-file";
import { journalEntries, queueFolders, readDeadLetters } from "../adapters/local/queue";
import {
  dataFiles,
  deadLetterCommands,
  LOCAL_BUCKET,
  LOCAL_QUEUE_FOLDERS,
  LOCAL_QUEUE_ROLES,
  queueDir,
  type LocalQueueRole,
} from "./data-dir";
import { messageIdOf, recipientsOf, retryMessageOf } from "./queue-bodies";

export interface LocalFateReaderOptions {
  /** Where the commands it suggests will be run from (their `--data-dir`); the current directory by default. */
  readonly cwd?: string;
}

/** One pass over a file of JSON lines; a missing file yields nothing. `keep` sees the raw line first, so most lines are never parsed. */
async function* jsonLines(file: string, keep: (line: string) => boolean): AsyncIterable<Record<string, unknown>> {
  const stream = fs.createReadStream(file, { encoding: "utf8" });
  const opened = new Promise<boolean>((resolve, reject) => {
    stream.once("open", () => resolve(true));
    stream.once("error", (error) => (isNotFound(error) ? resolve(false) : reject(error)));
  });
  if (!(await opened)) return;
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line || !keep(line)) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (typeof value === "object" && value !== null) yield value as Record<string, unknown>;
    } catch {
      // The last line of a file a crash cut short: nothing to read in it.
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.promises.access(file);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (error) {
    if (isNotFound(error) || (error as { code?: string }).code === "ENOTDIR") return [];
    throw error;
  }
}

/** A field's string value in a JSON line, without parsing it (`"messageId":"…"`). */
function fieldOf(line: string, field: string): string | undefined {
  const marker = `"${field}":"`;
  const start = line.indexOf(marker);
  if (start === -1) return undefined;
  const end = line.indexOf('"', start + marker.length);
  return end === -1 ? undefined : line.slice(start + marker.length, end);
}

/** What is known of one message while the files are read. */
interface Found {
  decision?: DecisionDetail;
  readonly outcomes: Outcome[];
  readonly deadLetters: Array<{ role: LocalQueueRole; error: { code: string; message: string } }>;
  readonly parked: Array<Extract<FatePlace, { kind: "parked" }>>;
}

export function createLocalFateReader(dataDir: string, options: LocalFateReaderOptions = {}): FateReader {
  const root = path.resolve(dataDir);
  const files = dataFiles(root);

  /** Reads every file once for a set of messages. */
  async function gather(ids: ReadonlySet<string>): Promise<{ found: Map<string, Found>; gaps: string[] }> {
    const found = new Map<string, Found>();
    const entry = (id: string): Found => {
      let known = found.get(id);
      if (!known) found.set(id, (known = { outcomes: [], deadLetters: [], parked: [] }));
      return known;
    };
    const gaps: string[] = [];

    for await (const event of jsonLines(files.events, (line) => ids.has(fieldOf(line, "originalMessageId") ?? ""))) {
      const detail = event.detail as DecisionDetail | undefined;
      if (detail && ids.has(detail.originalMessageId)) entry(detail.originalMessageId).decision = detail;
    }
    if (!(await exists(files.outcomes)))
      gaps.push(`no ${path.basename(files.outcomes)} in ${root}: no outcome is on record there (local mode before this version kept none)`);
    for await (const outcome of jsonLines(files.outcomes, (line) => ids.has(fieldOf(line, "messageId") ?? ""))) {
      entry(String(outcome.messageId)).outcomes.push(outcome as unknown as Outcome);
    }
    for (const role of LOCAL_QUEUE_ROLES) {
      const dir = queueDir(root, role);
      for (const letter of await readDeadLetters(queueFolders(dir).deadLetters)) {
        const id = messageIdOf(letter.body);
        if (id && ids.has(id)) entry(id).deadLetters.push({ role, error: letter.error });
      }
    }
    // Parked deliveries wait in the retry queue's journal (or were just redriven to it).
    for (const { body } of await journalEntries(queueDir(root, "retry"))) {
      const id = messageIdOf(body);
      const retryMessage = retryMessageOf(body);
      if (!id || !ids.has(id) || !retryMessage) continue;
      entry(id).parked.push({
        kind: "parked",
        account: retryMessage.target,
        since: retryMessage.firstQueuedAt,
        attempt: retryMessage.attempt,
        reason: retryMessage.lastError,
      });
    }
    return { found, gaps };
  }

  /** The Maildir file of an import, or why it cannot be found. */
  async function maildirFile(account: string, mailboxId: string, labels: readonly string[]): Promise<{ file?: string; gap?: string }> {
    const accountDir = path.join(files.mail, account);
    if (!(await exists(accountDir))) return {}; // real Gmail (--gmail-secrets): nothing local to point at
    const folder = path.join(accountDir, placementFor(labels).folder);
    for (const sub of ["new", "cur"]) {
      const name = (await listNames(path.join(folder, sub))).find(
        (candidate) => candidate === mailboxId || candidate.startsWith(`${mailboxId}:`),
      );
      if (name) return { file: path.join(folder, sub, name) };
    }
    return { gap: `${account}: the Maildir file ${mailboxId} is no longer in ${folder} (moved or deleted by a mail reader)` };
  }

  async function fateOf(id: string, known: Found | undefined, shared: readonly string[]): Promise<MessageFate | undefined> {
    const rawFile = path.join(files.emails, id);
    const rawKept = /^[A-Za-z0-9._-]+$/.test(id) && (await exists(rawFile));
    if (!known && !rawKept) return undefined;
    const { decision, outcomes: recorded = [], deadLetters = [], parked = [] } = known ?? {};
    const outcomes = recorded
      .map((outcome) => (outcome.kind === "routed" && !outcome.decision && decision ? { ...outcome, decision } : outcome))
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const gaps = [...shared];
    const places: FatePlace[] = [];

    // Mailboxes and bounces as the outcomes tell (core/fate.ts, as for a deployed stack), with the local
    // file of each; what is parked is read from the retry queue's journal, where it waits.
    const fromOutcomes = placesFromOutcomes(outcomes, decision);
    const inMailbox = new Set<string>();
    for (const place of fromOutcomes) {
      if (place.kind !== "mailbox") continue;
      const { file, gap } = await maildirFile(place.account, place.mailboxId, place.labels);
      places.push({ ...place, ...(file ? { file } : {}) });
      inMailbox.add(place.account);
      if (gap) gaps.push(gap);
    }
    places.push(...parked.filter((place) => !inMailbox.has(place.account)));
    // One bounce place per bounce-sent outcome, in the outcomes' order: each names its DSN's outbox file.
    const dsnIds = outcomes.flatMap((outcome) => (outcome.kind === "bounce-sent" ? [outcome.dsnMessageId] : []));
    for (const [index, place] of fromOutcomes.filter((candidate) => candidate.kind === "bounce").entries()) {
      const dsnId = dsnIds[index] ?? "";
      const file = path.join(files.outbox, `${dsnId}.eml`);
      const inOutbox = /^[A-Za-z0-9._-]+$/.test(dsnId) && (await exists(file));
      places.push({ ...place, ...(inOutbox ? { file } : {}) });
    }
    for (const letter of deadLetters) {
      places.push({
        kind: "dead-letter",
        queue: LOCAL_QUEUE_FOLDERS[letter.role],
        error: letter.error,
        redrive: deadLetterCommands(root, letter.role, options.cwd).redrive,
      });
    }
    places.push({
      kind: "raw-message",
      location: decision?.s3 ?? { bucket: LOCAL_BUCKET, key: `emails/${id}` },
      state: rawKept ? "kept" : "deleted",
    });

    if (!decision)
      gaps.push(
        `no routing decision for ${id} in ${path.basename(files.events)}${deadLetters.some((letter) => letter.role === "input") ? ": it was never routed (see the dead letter)" : ""}`,
      );
    else if (outcomes.length === 0) gaps.push(`no outcome of ${id} in ${path.basename(files.outcomes)}`);
    return { messageId: id, ...(decision ? { decision } : {}), outcomes, places, gaps };
  }

  return {
    async byMessageId(messageId) {
      const { found, gaps } = await gather(new Set([messageId]));
      return fateOf(messageId, found.get(messageId), gaps);
    },

    async byRecipient(address, since) {
      const recipient = parseAddress(address).address;
      const sinceMs = since.getTime();
      const when = new Map<string, number>();
      for await (const event of jsonLines(files.events, (line) => line.includes(recipient))) {
        const detail = event.detail as DecisionDetail | undefined;
        if (!detail || typeof detail.originalMessageId !== "string") continue;
        const time = Date.parse(detail.timestamp);
        const to = Object.values(detail.actions).some((summary) => summary.targets.some((target) => target.recipient === recipient));
        if (to && time >= sinceMs) when.set(detail.originalMessageId, time);
      }
      // Messages never routed (dead-lettered in the input queue) are found by their notification.
      const inputLetters = await readDeadLetters(queueFolders(queueDir(root, "input")).deadLetters);
      for (const letter of inputLetters) {
        const id = messageIdOf(letter.body);
        if (id && letter.sentTimestamp >= sinceMs && recipientsOf(letter.body).some((to) => to.toLowerCase() === recipient))
          when.set(id, letter.sentTimestamp);
      }
      const ids = [...when.keys()].sort((a, b) => when.get(b)! - when.get(a)!);
      const { found, gaps } = await gather(new Set(ids));
      const fates: MessageFate[] = [];
      for (const id of ids) {
        const fate = await fateOf(id, found.get(id), gaps);
        if (fate) fates.push(fate);
      }
      return fates;
    },
  };
}
