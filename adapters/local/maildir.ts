/**
 * Local mode's Gmail: one Maildir per Gmail account, `<root>/<gmail-address>/{tmp,new,cur}`, holding the
 * message bytes exactly as stored. Gmail labels map onto Maildir++ as follows:
 * - `INBOX` → the Maildir itself; `SPAM` → the `.Spam` folder; `TRASH` → `.Trash`; neither → `.Archive`
 *   (Gmail's "All Mail" without the inbox);
 * - `UNREAD` → delivered to `new/`; without it → `cur/` with the Seen flag; `STARRED` → the Flagged flag;
 * - any user label → a hard link of the same file in its Maildir++ folder, since a Gmail label is a view
 *   of one message, not a copy: a name as Gmail shows it maps level by level (`Shops/Receipts` →
 *   `.Shops.Receipts`), an id to itself (`Label_12` → `.Label_12`); core/labels.ts maildirFolderOfLabel.
 * Other system labels (IMPORTANT, CATEGORY_*) have no Maildir meaning and are ignored.
 *
 * Importing is idempotent: a file's name is derived from the account and the message's bytes
 * (`<sha-256 prefix>.<hostname>`), and a delivery whose name is already in the folder's `new/` or
 * `cur/` (whatever flags a mail reader has added since), with all its bytes, is not written again. That
 * closes the window a crash leaves between a finished import and the forwarder's record of it: the retry
 * after the restart finds the file and returns its id. (Local mode's stored bytes start with a
 * `Received` header naming the SES message id, so two different messages never share a name.)
 *
 * A file is renamed into place before it is fsynced (durable-file.ts commitSynced), and the import
 * resolves only after the fsync. So a power cut during an import can leave a short file under the final
 * name; it was never recorded as imported, the retry finds it short (its size is not the message's) and
 * replaces it. (One a mail reader moved to `cur/` in that window stays there, short, beside the whole one.)
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAddress } from "../../core/addresses";
import { errorMessage } from "../../core/errors";
import { labelProblem, maildirFolderOfLabel, SYSTEM_LABEL_IDS } from "../../core/labels";
import type { MailboxImporter, StoredMessage } from "../../core/ports";
import { commitSynced, errorCode, fsyncDirectory, isNotFound, removeFile, writeTemporary } from "./durable-file";
import { randomHex } from "./random";

/** A folder name is one file name: at most 255 bytes on the file systems Maildirs live on. */
const MAX_FOLDER_NAME_BYTES = 255;
/** Hex digits of the SHA-256 in a file name: 160 bits, so two different deliveries never collide. */
const NAME_HASH_HEX_DIGITS = 40;

export class InvalidMailboxError extends Error {
  constructor(what: string, reason: string) {
    super(`cannot deliver to ${JSON.stringify(what)}: ${reason}`);
    this.name = "InvalidMailboxError";
  }
}

export class TruncatedMessageError extends Error {
  constructor(expected: number, written: number) {
    super(`the message stream ended after ${written} of ${expected} bytes`);
    this.name = "TruncatedMessageError";
  }
}

export interface MaildirImporterOptions {
  /** `DATA_DIR/mail`: one Maildir per account below it. */
  readonly root: string;
  /** Part of every file name (Maildir's uniqueness rule); defaults to os.hostname(). */
  readonly hostname?: string;
}

/** Where one delivery goes, from its labels. */
export interface MaildirPlacement {
  /** Maildir++ folder (`""` for the inbox, `.Spam`, …). */
  readonly folder: string;
  /** `new` when unread, `cur` otherwise. */
  readonly subdir: "new" | "cur";
  /** Maildir info flags, alphabetical (`S`, `FS`, …). */
  readonly flags: string;
  /** Extra folders the message is linked into, one per user label. */
  readonly labelFolders: readonly string[];
}

/** Maps Gmail labels (ids and names) to a Maildir placement (pure, so tests can table it). */
export function placementFor(labels: readonly string[]): MaildirPlacement {
  const has = (label: string) => labels.includes(label);
  const folder = has("SPAM") ? ".Spam" : has("TRASH") ? ".Trash" : has("INBOX") ? "" : ".Archive";
  const unread = has("UNREAD");
  const flags = [has("STARRED") ? "F" : "", unread ? "" : "S"].join("");
  const labelFolders: string[] = [];
  for (const label of labels) {
    if (SYSTEM_LABEL_IDS.includes(label) || label.startsWith("CATEGORY_")) continue;
    const problem = labelProblem(label);
    if (problem) throw new InvalidMailboxError(label, problem);
    const labelFolder = maildirFolderOfLabel(label);
    if (Buffer.byteLength(labelFolder, "utf8") > MAX_FOLDER_NAME_BYTES)
      throw new InvalidMailboxError(label, `its folder name would be longer than ${MAX_FOLDER_NAME_BYTES} bytes`);
    if (labelFolder !== folder && !labelFolders.includes(labelFolder)) labelFolders.push(labelFolder);
  }
  return { folder, subdir: unread ? "new" : "cur", flags, labelFolders };
}

/** The folder name of an account: its canonical address, refused if it could escape the mail root. */
export function accountFolder(account: string): string {
  let address: string;
  try {
    address = parseAddress(account).address;
  } catch (error) {
    throw new InvalidMailboxError(account, errorMessage(error));
  }
  if (/[/\\]/.test(address) || address.startsWith(".")) throw new InvalidMailboxError(account, "the address cannot be a folder name");
  return address;
}

/** The part of a Maildir file name that identifies a delivery: the hash before the first `.` (and any `:2,` flags). */
export function deliveryKeyOf(fileName: string): string {
  return fileName.split(/[.:]/, 1)[0]!;
}

/** Passes the chunks through while adding them to a hash. */
async function* hashing(chunks: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>): AsyncIterable<Uint8Array> {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

export class MaildirImporter implements MailboxImporter {
  readonly root: string;
  private readonly hostname: string;
  private counter = 0;
  private readonly ready = new Map<string, Promise<void>>();
  /** Per Maildir (++ folder): the delivery keys in its `new/` and `cur/`, read once, then kept up to date. */
  private readonly delivered = new Map<string, Promise<Set<string>>>();

  constructor(options: MaildirImporterOptions) {
    this.root = path.resolve(options.root);
    // Maildir: "/" and ":" in the host part are written as octal escapes.
    this.hostname = (options.hostname ?? os.hostname()).replace(/\//g, "\\057").replace(/:/g, "\\072");
  }

  /** The Maildir (++ folder) of an account, e.g. `<root>/me@gmail.com/.Spam`. */
  folderPath(account: string, folder = ""): string {
    return path.join(this.root, accountFolder(account), folder);
  }

  /** Creates a Maildir (++ folder) once per process; later deliveries skip the mkdir calls. */
  private ensureMaildir(dir: string, isSubfolder: boolean): Promise<void> {
    let ready = this.ready.get(dir);
    if (!ready) {
      ready = (async () => {
        // One after the other, so a Maildir that cannot be made always fails on the same folder (`tmp`).
        for (const sub of ["tmp", "new", "cur"]) await fs.promises.mkdir(path.join(dir, sub), { recursive: true });
        if (isSubfolder) await fs.promises.writeFile(path.join(dir, "maildirfolder"), "", { flag: "a" });
      })();
      ready.catch(() => this.ready.delete(dir));
      this.ready.set(dir, ready);
    }
    return ready;
  }

  /** The delivery keys of a Maildir, listed from disk the first time (a previous run's deliveries included). */
  private deliveredIn(dir: string): Promise<Set<string>> {
    let keys = this.delivered.get(dir);
    if (!keys) {
      keys = (async () => {
        const found = new Set<string>();
        for (const sub of ["new", "cur"]) for (const name of await fs.promises.readdir(path.join(dir, sub))) found.add(deliveryKeyOf(name));
        return found;
      })();
      keys.catch(() => this.delivered.delete(dir));
      this.delivered.set(dir, keys);
    }
    return keys;
  }

  /**
   * The file of an earlier delivery with this key and `size` bytes, in `new/` or in `cur/` under any
   * flags; undefined when there is none. A shorter one is what a power cut left of a delivery that was
   * never recorded as done: not a delivery (one at the expected name is replaced).
   */
  private async findDelivery(dir: string, key: string, fileName: string, subdir: "new" | "cur", size: number): Promise<string | undefined> {
    const whole = async (file: string) => {
      try {
        return (await fs.promises.stat(file)).size === size;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    };
    const expected = path.join(dir, subdir, fileName);
    if (await whole(expected)) return expected;
    for (const sub of ["new", "cur"]) {
      for (const name of (await fs.promises.readdir(path.join(dir, sub))).filter((candidate) => deliveryKeyOf(candidate) === key)) {
        if (await whole(path.join(dir, sub, name))) return path.join(dir, sub, name);
      }
    }
    return undefined;
  }

  /** A unique name in `tmp/`, as Maildir asks of a delivery in progress. */
  private temporaryName(): string {
    const now = Date.now();
    return `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${process.pid}Q${++this.counter}R${randomHex(4)}.${this.hostname}`;
  }

  async importMessage(account: string, message: StoredMessage, labels: readonly string[]): Promise<{ id: string }> {
    const placement = placementFor(labels);
    const accountDir = this.folderPath(account);
    const canonicalAccount = path.basename(accountDir);
    const dir = path.join(accountDir, placement.folder);
    await this.ensureMaildir(accountDir, false);
    if (placement.folder) await this.ensureMaildir(dir, true);

    // Written under a temporary name first: the final name depends on the bytes.
    const temporary = path.join(dir, "tmp", this.temporaryName());
    const hash = createHash("sha256").update(`${canonicalAccount}\n`);
    const { fd, bytes: written } = await writeTemporary(temporary, hashing(message.body as AsyncIterable<Uint8Array>, hash));
    if (written !== message.size) {
      fs.closeSync(fd);
      await removeFile(temporary);
      throw new TruncatedMessageError(message.size, written);
    }
    const key = hash.digest("hex").slice(0, NAME_HASH_HEX_DIGITS);
    const id = `${key}.${this.hostname}`;
    const fileName = placement.subdir === "cur" ? `${id}:2,${placement.flags}` : id;

    const delivered = await this.deliveredIn(dir);
    const earlier = delivered.has(key) ? await this.findDelivery(dir, key, fileName, placement.subdir, written) : undefined;
    const target = earlier ?? path.join(dir, placement.subdir, fileName);
    if (earlier) {
      // Delivered before (a crash came between that import and its record): keep the one there is.
      fs.closeSync(fd);
      await removeFile(temporary);
    } else {
      // In place, then synced with its directory in one go (durable-file.ts commitSynced).
      await commitSynced(fd, temporary, target);
      delivered.add(key);
    }
    for (const labelFolder of placement.labelFolders) {
      const labelDir = path.join(accountDir, labelFolder);
      await this.ensureMaildir(labelDir, true);
      const labelled = await this.deliveredIn(labelDir);
      // A label folder that has it already (the same delivery, again) is done.
      if (labelled.has(key)) continue;
      const linkTarget = path.join(labelDir, placement.subdir, fileName);
      await fs.promises.link(target, linkTarget).catch(async (error: unknown) => {
        if (errorCode(error) === "EEXIST") return;
        // A filesystem without hard links still gets a copy.
        await fs.promises.copyFile(target, linkTarget);
      });
      await fsyncDirectory(path.join(labelDir, placement.subdir));
      labelled.add(key);
    }
    return { id };
  }
}
