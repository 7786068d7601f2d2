/**
 * Local mode for end-to-end tests: started in a temporary data directory on free ports, with hermetic
 * DNS, and a raw SMTP client for what nodemailer will not send (bare LF, smuggling sequences, SIZE).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { createTransport } from "nodemailer";
import { parseStackConfig, type StackConfig } from "../../config/schema";
import { startLocalMode, type LocalMode } from "../../local/mode";

/**
 * The test zone: `sender.example` lets 127.0.0.1 send (SPF pass, DMARC pass); `spoofed.example` does not
 * and asks for quarantine (SPF fail, DMARC fail with p=quarantine).
 */
export const TEST_ZONE = {
  "sender.example": { TXT: [["v=spf1 ip4:127.0.0.1 -all"]] },
  "_dmarc.sender.example": { TXT: [["v=DMARC1; p=none"]] },
  "spoofed.example": { TXT: [["v=spf1 ip4:192.0.2.1 -all"]] },
  "_dmarc.spoofed.example": { TXT: [["v=DMARC1; p=quarantine"]] },
};

export const TEST_DOMAIN = "test.example.com";

/** Stack config as a Pulumi stack file would give it (`ses-mail:` keys without the prefix). */
export function testConfig(values: Record<string, unknown> = {}): StackConfig {
  return parseStackConfig({ domains: [TEST_DOMAIN], ...values }, "test");
}

export interface TestLocalMode {
  readonly mode: LocalMode;
  readonly dir: string;
  readonly lines: string[];
  stop(): Promise<void>;
}

export async function makeTempDir(prefix = "ses-mail-local-"): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function startTestLocalMode(config: StackConfig, options: { dir?: string } = {}): Promise<TestLocalMode> {
  const dir = options.dir ?? (await makeTempDir());
  const resolverFile = path.join(dir, "zone.json");
  await fs.promises.writeFile(resolverFile, JSON.stringify(TEST_ZONE));
  const lines: string[] = [];
  const mode = await startLocalMode({
    config,
    dataDir: path.join(dir, "data"),
    smtpPort: 0,
    dynamodbPort: 0,
    resolverFile,
    hostname: "mx.local.test",
    output: (line) => lines.push(line),
    // Failed queue messages come back at once: tests wait for idleness, never for time.
    retryDelayMs: () => 1,
  });
  return {
    mode,
    dir,
    lines,
    async stop() {
      await mode.close();
      if (!options.dir) await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Sends with nodemailer (a real SMTP client) and returns what it reports. */
export async function sendMail(
  mode: LocalMode,
  message: { from: string; to: string[]; raw: Buffer | string },
): Promise<{ accepted: string[]; rejected: string[]; response: string }> {
  const transport = createTransport({
    host: mode.smtpHost,
    port: mode.smtpPort,
    secure: false,
    tls: { rejectUnauthorized: false },
    name: "client.sender.example",
  });
  try {
    const info = (await transport.sendMail({ envelope: { from: message.from, to: message.to }, raw: message.raw })) as {
      accepted: unknown[];
      rejected: unknown[];
      response: string;
    };
    return { accepted: info.accepted.map(String), rejected: info.rejected.map(String), response: info.response };
  } finally {
    transport.close();
  }
}

/** Every message file of a Maildir folder (`new` and `cur`), oldest first. */
export function maildirMessages(mode: LocalMode, account: string, folder = ""): Buffer[] {
  const dir = path.join(mode.maildirRoot, account, folder);
  const files: string[] = [];
  for (const sub of ["new", "cur"]) {
    const subdir = path.join(dir, sub);
    if (fs.existsSync(subdir)) files.push(...fs.readdirSync(subdir).map((name) => path.join(subdir, name)));
  }
  return files.sort().map((file) => fs.readFileSync(file));
}

/** The trace headers local mode prepends, and the rest, which must be the client's bytes unchanged. */
export function splitTraceHeaders(stored: Buffer): { trace: string; rest: Buffer } {
  const text = stored.toString("latin1");
  const match = /^Received: [^]*?\r\n(?! )Authentication-Results: [^]*?\r\n(?! )/.exec(text);
  if (!match) throw new Error(`no Received + Authentication-Results prefix in ${JSON.stringify(text.slice(0, 200))}`);
  return { trace: match[0], rest: stored.subarray(match[0].length) };
}

/**
 * A line-level SMTP client: each `send` writes bytes and waits for one complete reply.
 * For what a well-behaved client library would refuse or normalize.
 */
export class RawSmtpClient {
  private buffer = "";
  private waiters: Array<(reply: string) => void> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (;;) {
        const match = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
        if (!match) return;
        this.buffer = this.buffer.slice(match[0].length);
        this.waiters.shift()?.(match[0].trimEnd());
      }
    });
  }

  static async connect(mode: Pick<LocalMode, "smtpHost" | "smtpPort">): Promise<{ client: RawSmtpClient; greeting: string }> {
    const socket = net.connect(mode.smtpPort, mode.smtpHost);
    const client = new RawSmtpClient(socket);
    const greeting = await client.reply();
    return { client, greeting };
  }

  private reply(): Promise<string> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Writes `data` (a command line without CRLF is completed) and resolves with the next reply. */
  async send(data: string | Buffer): Promise<string> {
    const bytes = typeof data === "string" && !data.endsWith("\r\n") ? `${data}\r\n` : data;
    const reply = this.reply();
    this.socket.write(bytes);
    return reply;
  }

  /**
   * MAIL, RCPT…, DATA and the content, dot-stuffed after CRLF as RFC 5321 §4.5.2 asks (nothing else is
   * changed: bare LF and CR go as they are), then the end of data. Returns every reply.
   */
  async transaction(from: string, to: readonly string[], content: Buffer): Promise<string[]> {
    const replies = [await this.send(`MAIL FROM:<${from}>`)];
    for (const rcpt of to) replies.push(await this.send(`RCPT TO:<${rcpt}>`));
    replies.push(await this.send("DATA"));
    if (!replies[replies.length - 1]!.startsWith("354")) return replies;
    const stuffed = Buffer.from(content.toString("latin1").replace(/(^|\r\n)\./g, "$1.."), "latin1");
    const end = stuffed.subarray(-2).toString("latin1") === "\r\n" ? ".\r\n" : "\r\n.\r\n";
    replies.push(await this.send(Buffer.concat([stuffed, Buffer.from(end)])));
    return replies;
  }

  async quit(): Promise<void> {
    await this.send("QUIT").catch(() => undefined);
    this.socket.destroy();
  }
}
