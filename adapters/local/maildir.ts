/**
 * Local mode's Gmail: one Maildir per Gmail account, `<root>/<gmail-address>/{tmp,new,cur}`, holding the
 * message bytes exactly as stored. Gmail labels map onto Maildir++ as follows:
 * - `INBOX` → the Maildir itself; `SPAM` → the `.Spam` folder; `TRASH` → `.Trash`; neither → `.Archive`
 *   (Gmail's "All Mail" without the inbox);
 * - `UNREAD` → delivered to `new/`; without it → `cur/` with the Seen flag; `STARRED` → the Flagged flag;
 * - any user label (`Label_12`) → a hard link of the same file in the folder `.<label>`, since a Gmail
 *   label is a view of one message, not a copy.
 * Other system labels (IMPORTANT, CATEGORY_*) have no Maildir meaning and are ignored.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAddress } from "../../core/addresses";
import type { MailboxImporter, StoredMessage } from "../../core/ports";
import { errorCode, fsyncDirectory, writeFileDurably } from "./durable-file";

/** Gmail's system labels; every other label id is a user label and becomes a folder. */
const SYSTEM_LABELS = ["INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "CHAT"];
const LABEL_FOLDER = /^[A-Za-z0-9_-]{1,128}$/;

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

/** Maps Gmail label ids to a Maildir placement (pure, so tests can table it). */
export function placementFor(labels: readonly string[]): MaildirPlacement {
  const has = (label: string) => labels.includes(label);
  const folder = has("SPAM") ? ".Spam" : has("TRASH") ? ".Trash" : has("INBOX") ? "" : ".Archive";
  const unread = has("UNREAD");
  const flags = [has("STARRED") ? "F" : "", unread ? "" : "S"].join("");
  const labelFolders: string[] = [];
  for (const label of labels) {
    if (SYSTEM_LABELS.includes(label) || label.startsWith("CATEGORY_")) continue;
    if (!LABEL_FOLDER.test(label)) throw new InvalidMailboxError(label, "not a Gmail label id");
    const labelFolder = `.${label}`;
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
    throw new InvalidMailboxError(account, error instanceof Error ? error.message : String(error));
  }
  if (/[/\\]/.test(address) || address.startsWith(".")) throw new InvalidMailboxError(account, "the address cannot be a folder name");
  return address;
}

export class MaildirImporter implements MailboxImporter {
  readonly root: string;
  private readonly hostname: string;
  private counter = 0;
  private readonly ready = new Map<string, Promise<void>>();

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
        await Promise.all(["tmp", "new", "cur"].map((sub) => fs.promises.mkdir(path.join(dir, sub), { recursive: true })));
        if (isSubfolder) await fs.promises.writeFile(path.join(dir, "maildirfolder"), "", { flag: "a" });
      })();
      ready.catch(() => this.ready.delete(dir));
      this.ready.set(dir, ready);
    }
    return ready;
  }

  private uniqueName(): string {
    const now = Date.now();
    const seconds = Math.floor(now / 1000);
    const micros = (now % 1000) * 1000 + Math.floor(Math.random() * 1000);
    return `${seconds}.M${String(micros).padStart(6, "0")}P${process.pid}Q${++this.counter}R${randomBytes(4).toString("hex")}.${this.hostname}`;
  }

  async importMessage(account: string, message: StoredMessage, labels: readonly string[]): Promise<{ id: string }> {
    const placement = placementFor(labels);
    const accountDir = this.folderPath(account);
    const dir = path.join(accountDir, placement.folder);
    await this.ensureMaildir(accountDir, false);
    if (placement.folder) await this.ensureMaildir(dir, true);

    const id = this.uniqueName();
    const fileName = placement.subdir === "cur" ? `${id}:2,${placement.flags}` : id;
    const target = path.join(dir, placement.subdir, fileName);
    const written = await writeFileDurably(target, message.body as AsyncIterable<Uint8Array>, { tmpDir: path.join(dir, "tmp") });
    if (written !== message.size) {
      await fs.promises.rm(target, { force: true });
      throw new TruncatedMessageError(message.size, written);
    }
    for (const labelFolder of placement.labelFolders) {
      const labelDir = path.join(accountDir, labelFolder);
      await this.ensureMaildir(labelDir, true);
      const linkTarget = path.join(labelDir, placement.subdir, fileName);
      await fs.promises.link(target, linkTarget).catch(async (error: unknown) => {
        // A filesystem without hard links still gets a copy.
        if (errorCode(error) === "EEXIST") return;
        await fs.promises.copyFile(target, linkTarget);
      });
      await fsyncDirectory(path.join(labelDir, placement.subdir));
    }
    return { id };
  }
}
