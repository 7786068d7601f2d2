import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { SMTPServer } from "smtp-server";
import { MessageNotFoundError } from "../../../core/errors";
import { FileMessageStore, UnsafeMessageKeyError } from "../../../adapters/local/file-message-store";
import { InvalidMailboxError, MaildirImporter, placementFor, TruncatedMessageError } from "../../../adapters/local/maildir";
import { OutboxSender, parseSmarthost, SmarthostRejectedError, SmarthostSender } from "../../../adapters/local/outbox";
import { QueueJournal } from "../../../adapters/local/queue-journal";

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Bytes no text decoder would keep intact: NUL, 8-bit, invalid UTF-8, bare CR and LF. */
const AWKWARD_BYTES = Buffer.concat([
  Buffer.from("Subject: x\r\n\r\n"),
  Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x0d, 0x0a, 0x0a, 0x0d, 0x80]),
]);

let dir: string;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-stores-"));
});
afterEach(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

describe("FileMessageStore", () => {
  it("keeps a message byte for byte under emails/<messageId> and streams it back with its size", async () => {
    // Prepare
    const store = new FileMessageStore({ root: dir, bucket: "local-bucket" });
    await store.init();

    // Act
    const { location, size } = await store.write("abc123", [Buffer.from("Received: x\r\n"), AWKWARD_BYTES]);
    const opened = await store.open(location);

    // Assess
    expect(location).toEqual({ bucket: "local-bucket", key: "emails/abc123" });
    expect(fs.readdirSync(path.join(dir, "emails")).filter((name) => !name.startsWith("."))).toEqual(["abc123"]);
    expect(opened.size).toBe(size);
    expect(await readAll(opened.body)).toEqual(Buffer.concat([Buffer.from("Received: x\r\n"), AWKWARD_BYTES]));
  });

  it("says MessageNotFound for a missing message, and deleting one twice is fine", async () => {
    // Prepare
    const store = new FileMessageStore({ root: dir, bucket: "b" });
    await store.init();
    const { location } = await store.write("m1", [Buffer.from("x")]);

    // Act
    await store.delete(location);
    await store.delete(location);

    // Assess
    await expect(store.open(location)).rejects.toThrow(MessageNotFoundError);
  });

  it.each([
    ["a parent-directory key", { bucket: "b", key: "emails/../../etc/passwd" }],
    ["an absolute key", { bucket: "b", key: "/etc/passwd" }],
    ["a backslash key", { bucket: "b", key: "emails\\..\\x" }],
    ["another bucket", { bucket: "other", key: "emails/m1" }],
  ])("refuses %s", async (_name, location) => {
    // Prepare
    const store = new FileMessageStore({ root: dir, bucket: "b" });

    // Act / Assess
    await expect(store.open(location)).rejects.toThrow(UnsafeMessageKeyError);
    await expect(store.delete(location)).rejects.toThrow(UnsafeMessageKeyError);
  });

  it("removes half-written files a crash left in emails/.tmp on init", async () => {
    // Prepare
    fs.mkdirSync(path.join(dir, "emails", ".tmp"), { recursive: true });
    fs.writeFileSync(path.join(dir, "emails", ".tmp", ".m9.123.tmp"), "partial");
    const store = new FileMessageStore({ root: dir, bucket: "b" });

    // Act
    await store.init();

    // Assess
    expect(fs.readdirSync(path.join(dir, "emails", ".tmp"))).toEqual([]);
  });
});

describe("FileMessageStore with a journal (most mail's bytes journalled with its notification)", () => {
  const notification = (id: string) => ({ id, body: `notification of ${id}`, sentTimestamp: 1, visibleAt: 0 });

  /** A message as the intake stores it: the file written unsynced, the bytes journalled with the notification. */
  async function accept(store: FileMessageStore, journal: QueueJournal, id: string, bytes: Buffer) {
    expect(store.journals(bytes.length)).toBe(true);
    const { location } = await store.writeJournaled(id, bytes);
    await journal.add("input", notification(id), { rawMessage: { key: location.key, bytes } });
    return location;
  }

  it("serves a journalled message from the journal, and after a checkpoint syncs its file and lets the journal forget it", async () => {
    // Prepare
    const journal = new QueueJournal(path.join(dir, "queues"));
    const store = new FileMessageStore({ root: dir, bucket: "b", journal });
    await store.init();
    const location = await accept(store, journal, "m1", AWKWARD_BYTES);

    // Act
    const whileJournalled = await readAll((await store.open(location)).body);
    const young = await store.checkpoint();
    const old = await store.checkpoint(0);
    await journal.release();

    // Assess
    expect(whileJournalled.equals(AWKWARD_BYTES)).toBe(true);
    expect(young).toBe(0);
    expect(old).toBe(1);
    expect(await journal.pendingRawMessages()).toEqual([]);
    expect(fs.readFileSync(path.join(dir, "emails", "m1")).equals(AWKWARD_BYTES)).toBe(true);
  });

  it("after a crash, writes back whole the journalled messages whose files were lost or torn, and leaves a deleted one deleted", async () => {
    // Prepare: three messages accepted; one delivered and deleted; then the machine lost power, taking
    // one unsynced file with it and tearing another.
    const before = new QueueJournal(path.join(dir, "queues"));
    const crashed = new FileMessageStore({ root: dir, bucket: "b", journal: before });
    await crashed.init();
    const lost = Buffer.from("Subject: lost\r\n\r\nbody\r\n");
    const torn = Buffer.from(`Subject: torn\r\n\r\n${"x".repeat(5000)}\r\n`);
    await accept(crashed, before, "lost", lost);
    await accept(crashed, before, "torn", torn);
    const delivered = await accept(crashed, before, "delivered", Buffer.from("Subject: delivered\r\n\r\nbody\r\n"));
    await crashed.delete(delivered);
    await before.release();
    fs.rmSync(path.join(dir, "emails", "lost"));
    fs.truncateSync(path.join(dir, "emails", "torn"), 100);

    // Act: the next start.
    const journal = new QueueJournal(path.join(dir, "queues"));
    const store = new FileMessageStore({ root: dir, bucket: "b", journal });
    await store.init();
    const repaired = await store.recover();

    // Assess
    expect(repaired).toBe(2);
    expect(fs.readFileSync(path.join(dir, "emails", "lost")).equals(lost)).toBe(true);
    expect(fs.readFileSync(path.join(dir, "emails", "torn")).equals(torn)).toBe(true);
    expect(fs.existsSync(path.join(dir, "emails", "delivered"))).toBe(false);
    expect(await journal.pendingRawMessages()).toEqual([]);
    await journal.release();
  });

  it("syncs a message instead of journalling it when it is large, or when the journal already holds its share", async () => {
    // Prepare
    const journal = new QueueJournal(path.join(dir, "queues"));
    const store = new FileMessageStore({ root: dir, bucket: "b", journal, journalMaxBytes: 1000, journalPendingMaxBytes: 1500 });
    await store.init();

    // Act / Assess
    expect(store.journals(1001)).toBe(false);
    await accept(store, journal, "first", Buffer.alloc(1000, 0x41));
    expect(store.journals(600)).toBe(false);
    expect(store.journals(500)).toBe(true);
    expect(new FileMessageStore({ root: dir, bucket: "b" }).journals(10)).toBe(false);
    await journal.release();
  });
});

describe("MaildirImporter", () => {
  function message(bytes: Buffer) {
    return { body: Readable.from([bytes]), size: bytes.length };
  }

  it.each<[string[], ReturnType<typeof placementFor>]>([
    [["INBOX", "UNREAD"], { folder: "", subdir: "new", flags: "", labelFolders: [] }],
    [["SPAM"], { folder: ".Spam", subdir: "cur", flags: "S", labelFolders: [] }],
    [["INBOX", "UNREAD", "STARRED", "Label_7"], { folder: "", subdir: "new", flags: "F", labelFolders: [".Label_7"] }],
    [["UNREAD"], { folder: ".Archive", subdir: "new", flags: "", labelFolders: [] }],
    [["INBOX", "IMPORTANT", "CATEGORY_PERSONAL"], { folder: "", subdir: "cur", flags: "S", labelFolders: [] }],
  ])("places labels %j", (labels, expected) => {
    // Act / Assess
    expect(placementFor(labels)).toEqual(expected);
  });

  it("delivers the exact bytes into <account>/new for an unread inbox message", async () => {
    // Prepare
    const importer = new MaildirImporter({ root: dir, hostname: "host/with:chars" });

    // Act
    const { id } = await importer.importMessage("Me@Gmail.com", message(AWKWARD_BYTES), ["INBOX", "UNREAD"]);

    // Assess
    const maildir = path.join(dir, "me@gmail.com");
    expect(fs.readdirSync(maildir).sort()).toEqual(["cur", "new", "tmp"]);
    expect(fs.readdirSync(path.join(maildir, "new"))).toEqual([id]);
    expect(id).toMatch(/\.host\\057with\\072chars$/);
    expect(fs.readFileSync(path.join(maildir, "new", id))).toEqual(AWKWARD_BYTES);
    expect(fs.readdirSync(path.join(maildir, "tmp"))).toEqual([]);
  });

  it("puts SPAM-labelled mail into the Maildir++ folder .Spam", async () => {
    // Prepare
    const importer = new MaildirImporter({ root: dir });

    // Act
    const { id } = await importer.importMessage("me@gmail.com", message(Buffer.from("spam\r\n")), ["SPAM", "UNREAD"]);

    // Assess
    const spam = path.join(dir, "me@gmail.com", ".Spam");
    expect(fs.readdirSync(path.join(spam, "new"))).toEqual([id]);
    expect(fs.readdirSync(spam)).toContain("maildirfolder");
    expect(fs.readdirSync(path.join(dir, "me@gmail.com", "new"))).toEqual([]);
  });

  it("links a user-labelled message into the label's folder", async () => {
    // Prepare
    const importer = new MaildirImporter({ root: dir });

    // Act
    const { id } = await importer.importMessage("me@gmail.com", message(Buffer.from("receipt\r\n")), ["INBOX", "UNREAD", "Label_receipts"]);

    // Assess
    const inbox = path.join(dir, "me@gmail.com", "new", id);
    const labelled = path.join(dir, "me@gmail.com", ".Label_receipts", "new", id);
    expect(fs.statSync(labelled).ino).toBe(fs.statSync(inbox).ino);
  });

  it.each(["../../etc@x.com", "a/b@x.com", "not-an-address"])("refuses the account %s", async (account) => {
    // Prepare
    const importer = new MaildirImporter({ root: dir });

    // Act / Assess
    await expect(importer.importMessage(account, message(Buffer.from("x")), ["INBOX"])).rejects.toThrow(InvalidMailboxError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("refuses a stream that ends before the size the store reported, leaving nothing behind", async () => {
    // Prepare
    const importer = new MaildirImporter({ root: dir });

    // Act
    const result = importer.importMessage("me@gmail.com", { body: Readable.from([Buffer.from("short")]), size: 100 }, ["INBOX", "UNREAD"]);

    // Assess
    await expect(result).rejects.toThrow(TruncatedMessageError);
    expect(fs.readdirSync(path.join(dir, "me@gmail.com", "new"))).toEqual([]);
  });

  it("imports the same message into the same account once, even across a restart and after a mail reader flagged it", async () => {
    // Prepare: a delivery a crash interrupted after the file was written; a mail reader then read and starred it.
    const bytes = Buffer.from("Received: from x by y id 0abc\r\nSubject: once\r\n\r\nbody\r\n");
    const first = await new MaildirImporter({ root: dir }).importMessage("me@gmail.com", message(bytes), ["INBOX", "UNREAD", "Label_9"]);
    const inbox = path.join(dir, "me@gmail.com");
    fs.renameSync(path.join(inbox, "new", first.id), path.join(inbox, "cur", `${first.id}:2,FS`));

    // Act: the restarted process imports it again (the idempotency record had expired), and once more.
    const restarted = new MaildirImporter({ root: dir });
    const again = await restarted.importMessage("me@gmail.com", message(bytes), ["INBOX", "UNREAD", "Label_9"]);
    const third = await restarted.importMessage("me@gmail.com", message(bytes), ["INBOX", "UNREAD", "Label_9"]);

    // Assess
    expect([again.id, third.id]).toEqual([first.id, first.id]);
    expect(fs.readdirSync(path.join(inbox, "new"))).toEqual([]);
    expect(fs.readdirSync(path.join(inbox, "cur"))).toEqual([`${first.id}:2,FS`]);
    expect(fs.readdirSync(path.join(inbox, "tmp"))).toEqual([]);
    expect(fs.readdirSync(path.join(inbox, ".Label_9", "new"))).toEqual([first.id]);
  });

  it("replaces what a power cut left of an unrecorded delivery (its name, fewer bytes) with the whole message", async () => {
    // Prepare: the file was renamed into place, then the power went before its data was on disk.
    const bytes = Buffer.from("Received: from x by y id 0def\r\nSubject: short\r\n\r\nbody\r\n");
    const first = await new MaildirImporter({ root: dir }).importMessage("me@gmail.com", message(bytes), ["INBOX", "UNREAD"]);
    const file = path.join(dir, "me@gmail.com", "new", first.id);
    fs.truncateSync(file, 0);

    // Act: the restarted process imports it again (its record never said it was done).
    const again = await new MaildirImporter({ root: dir }).importMessage("me@gmail.com", message(bytes), ["INBOX", "UNREAD"]);

    // Assess
    expect(again.id).toBe(first.id);
    expect(fs.readdirSync(path.join(dir, "me@gmail.com", "new"))).toEqual([first.id]);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  });

  it("names deliveries by account and message: another message or another account is a new file", async () => {
    // Prepare
    const importer = new MaildirImporter({ root: dir });

    // Act
    const a = await importer.importMessage("me@gmail.com", message(Buffer.from("Subject: a\r\n\r\n")), ["INBOX", "UNREAD"]);
    const b = await importer.importMessage("me@gmail.com", message(Buffer.from("Subject: b\r\n\r\n")), ["INBOX", "UNREAD"]);
    const c = await importer.importMessage("you@gmail.com", message(Buffer.from("Subject: a\r\n\r\n")), ["INBOX", "UNREAD"]);

    // Assess
    expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    expect(fs.readdirSync(path.join(dir, "me@gmail.com", "new")).sort()).toEqual([a.id, b.id].sort());
    expect(fs.readdirSync(path.join(dir, "you@gmail.com", "new"))).toEqual([c.id]);
  });
});

describe("OutboxSender", () => {
  it("writes the raw bytes and the envelope beside them", async () => {
    // Prepare
    const outbox = new OutboxSender({ dir: path.join(dir, "outbox") });

    // Act
    const { messageId } = await outbox.sendRawMessage({ from: "", to: ["sender@sender.example"], raw: AWKWARD_BYTES });

    // Assess
    const [entry] = await outbox.list();
    expect(entry?.id).toBe(messageId);
    expect(entry?.raw).toEqual(AWKWARD_BYTES);
    expect(entry?.envelope).toMatchObject({ from: "", to: ["sender@sender.example"] });
    expect(fs.readdirSync(path.join(dir, "outbox")).sort()).toEqual([`${messageId}.eml`, `${messageId}.envelope.json`]);
  });
});

describe("SmarthostSender", () => {
  it.each([
    ["mail.example.com:2525", { host: "mail.example.com", port: 2525 }],
    ["127.0.0.1", { host: "127.0.0.1", port: 25 }],
    ["[::1]:587", { host: "::1", port: 587 }],
  ])("parses %s", (text, expected) => {
    // Act / Assess
    expect(parseSmarthost(text)).toEqual(expected);
  });

  it.each(["", "host:0", "host:99999", "a b:25", "http://x:25"])("refuses %j", (text) => {
    // Act / Assess
    expect(() => parseSmarthost(text)).toThrow(/HOST:PORT/);
  });

  it("relays the exact bytes with the given envelope, and fails when the relay refuses the recipient", async () => {
    // Prepare
    const received: Array<{ from: string; to: string[]; data: Buffer }> = [];
    const relay = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onRcptTo(address, _session, callback) {
        callback(address.address.startsWith("refused") ? Object.assign(new Error("no such user"), { responseCode: 550 }) : undefined);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            data: Buffer.concat(chunks),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const port = (relay.server.address() as { port: number }).port;
    const sender = new SmarthostSender({ host: "127.0.0.1", port });
    const raw = Buffer.from("From: MAILER-DAEMON@test.example.com\r\nSubject: DSN\r\n\r\n8-bit \xe9 body\r\n", "latin1");

    try {
      // Act
      await sender.sendRawMessage({ from: "", to: ["sender@sender.example"], raw });
      const refused = sender.sendRawMessage({ from: "", to: ["refused@sender.example"], raw });

      // Assess
      await expect(refused).rejects.toThrow(/refused@sender\.example|no such user/);
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ from: "", to: ["sender@sender.example"] });
      expect(received[0]!.data).toEqual(raw);
    } finally {
      sender.close();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  it("names the refused recipients when only some were accepted", () => {
    // Act / Assess
    expect(new SmarthostRejectedError("h:25", ["a@x.example"], "550 no").message).toContain("a@x.example");
  });
});
