/**
 * Local mode's SES outbound (what the bouncer sends): either a pickup folder, `DATA_DIR/outbox/<id>.eml`
 * with the envelope beside it in `<id>.envelope.json`, or a relay through a smarthost over SMTP.
 * Either way the bytes are sent exactly as given.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Transporter } from "nodemailer";
import type { Clock, RawMailSender } from "../../core/ports";
import { writeFileDurably } from "./durable-file";

export interface OutboxEnvelope {
  readonly from: string;
  readonly to: readonly string[];
  /** When it was handed to the outbox (ISO 8601). */
  readonly queuedAt: string;
}

type RawMessage = Parameters<RawMailSender["sendRawMessage"]>[0];

/** `<time>-<random>`: sorts by time, unique without coordination. */
function outboxId(now: Date): string {
  return `${now.getTime().toString(36).padStart(9, "0")}-${randomBytes(6).toString("hex")}`;
}

export class OutboxSender implements RawMailSender {
  readonly dir: string;
  private readonly now: Clock;

  constructor(options: { dir: string; now?: Clock }) {
    this.dir = path.resolve(options.dir);
    this.now = options.now ?? (() => new Date());
  }

  async sendRawMessage(message: RawMessage): Promise<{ messageId: string }> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const now = this.now();
    const id = outboxId(now);
    const envelope: OutboxEnvelope = { from: message.from, to: [...message.to], queuedAt: now.toISOString() };
    // The envelope first: whoever sees `<id>.eml` can rely on its envelope being there.
    await writeFileDurably(path.join(this.dir, `${id}.envelope.json`), [Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`)]);
    await writeFileDurably(path.join(this.dir, `${id}.eml`), [message.raw]);
    return { messageId: id };
  }

  /** Every message in the outbox, oldest first, for tests and tools. */
  async list(): Promise<Array<{ id: string; envelope: OutboxEnvelope; raw: Buffer }>> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.dir);
    } catch {
      return [];
    }
    const ids = names
      .filter((name) => name.endsWith(".eml"))
      .map((name) => name.slice(0, -".eml".length))
      .sort();
    return Promise.all(
      ids.map(async (id) => ({
        id,
        envelope: JSON.parse(await fs.promises.readFile(path.join(this.dir, `${id}.envelope.json`), "utf8")) as OutboxEnvelope,
        raw: await fs.promises.readFile(path.join(this.dir, `${id}.eml`)),
      })),
    );
  }
}

export class SmarthostRejectedError extends Error {
  constructor(host: string, rejected: readonly string[], response: string) {
    super(`smarthost ${host} refused ${rejected.join(", ")}: ${response}`);
    this.name = "SmarthostRejectedError";
  }
}

/** `host:port` (IPv6 as `[::1]:25`), validated; the port defaults to 25. */
export function parseSmarthost(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? 25 : Number(match[3]);
  if (!match || port < 1 || port > 65535) throw new Error(`--smarthost must be HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: (match[1] ?? match[2])!, port };
}

/** Relays through an SMTP server: STARTTLS when it offers it, the envelope given explicitly. */
export class SmarthostSender implements RawMailSender {
  private readonly transport: Transporter;
  readonly description: string;

  constructor(options: { host: string; port: number; rejectUnauthorized?: boolean }) {
    this.description = `${options.host}:${options.port}`;
    // Loaded here, not with this module: only a --smarthost start relays, and every start loads the outbox.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
    const { createTransport } = require("nodemailer") as typeof import("nodemailer");
    this.transport = createTransport({
      host: options.host,
      port: options.port,
      secure: false,
      // A local relay (mailpit, a test server) rarely has a certificate a client can verify.
      tls: { rejectUnauthorized: options.rejectUnauthorized ?? false },
      connectionTimeout: 10_000,
      socketTimeout: 60_000,
    });
  }

  async sendRawMessage(message: RawMessage): Promise<{ messageId: string }> {
    const info = (await this.transport.sendMail({ envelope: { from: message.from, to: [...message.to] }, raw: message.raw })) as {
      messageId?: string;
      response?: string;
      rejected?: unknown[];
    };
    // nodemailer resolves when some recipients were refused; a bounce that reached nobody is a failure.
    const rejected = (info.rejected ?? []).map(String);
    if (rejected.length > 0) throw new SmarthostRejectedError(this.description, rejected, info.response ?? "");
    return { messageId: info.messageId ?? info.response ?? "" };
  }

  close(): void {
    this.transport.close();
  }
}
