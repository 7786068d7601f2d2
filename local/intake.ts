/**
 * Local mode's SES inbound: an SMTP server (smtp-server) that accepts mail for the configured domains,
 * authenticates it (mailauth), stores it durably and publishes the SES receipt notification.
 *
 * The 250 reply is sent only after the message and its notification are on disk: the notification in
 * the input queue's journal, fdatasynced, and the message either there with it (most mail: its file is
 * written beside, unsynced, see adapters/local/file-message-store.ts) or in its own fsynced file. An
 * acknowledged message survives a crash. Until then any failure answers 451, so the client keeps the
 * message and retries.
 *
 * What it enforces, as SES does: recipients only in the configured domains (550 5.1.1 at RCPT), at most
 * MAX_RECIPIENTS_PER_MESSAGE recipients (452 past it, RFC 5321 §4.5.3.1.10), SES_MAX_MESSAGE_BYTES
 * (552 for a declared SIZE and for actual data). Unlike SES, one machine has a finite capacity: when
 * the backlog of accepted mail grows, MAIL FROM is slowed and finally refused with 451 (see limits.ts),
 * and while mail cannot be stored (a full disk, storage.ts) MAIL FROM is refused with 451 too.
 * Only `<CR><LF>.<CR><LF>` ends the data (smtp-server
 * 3.21): `<LF>.<LF>` and `<CR>.<CR>` are message content, so SMTP smuggling cannot inject a second message.
 */
import * as fs from "node:fs";
import type { Readable } from "node:stream";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import { isIP } from "node:net";
import { parseAddress, type EmailAddress } from "../core/addresses";
import { errorMessage } from "../core/errors";
import { MAX_RECIPIENTS_PER_MESSAGE, SES_MAX_MESSAGE_BYTES } from "../core/limits";
import type { MessageLocation } from "../core/ports";
import type { FileMessageStore } from "../adapters/local/file-message-store";
import { randomHex } from "../adapters/local/random";
import { authenticateMessage } from "./authentication";
import { crashPoint } from "./crash-points";
import { parseHeaderBlock, receivedHeader, traceHeaderBytes } from "./headers";
import {
  HEADER_PARSE_MAX_BYTES,
  IN_FLOW_DELAY_MAX_MS,
  INTAKE_BACKLOG_HARD_LIMIT,
  INTAKE_BACKLOG_SOFT_LIMIT,
  INTAKE_MEMORY_SPOOL_BYTES,
  SMTP_CLOSE_TIMEOUT_MS,
  SMTP_MAX_CLIENTS,
  SMTP_MAX_CLIENTS_PER_ADDRESS,
  SMTP_SOCKET_TIMEOUT_MS,
} from "./limits";
import { buildReceiptNotification } from "./notification";
import { acceptQuotedLocalParts } from "./quoted-paths";
import type { DnsResolver } from "./resolver";

export interface IntakeOptions {
  /** Canonical domains mail is accepted for. */
  readonly domains: readonly string[];
  readonly store: FileMessageStore;
  readonly resolver: DnsResolver;
  /** This server's name: SMTP greeting, Received and Authentication-Results. */
  readonly hostname: string;
  readonly tls: { readonly key: string; readonly cert: string };
  /**
   * Publishes a notification durably (the SNS → SQS leg); resolves once it survives a crash. With
   * `rawMessage`, the message's bytes are made durable with it (the store wrote its file unsynced).
   */
  readonly publish: (notification: string, rawMessage?: { key: string; bytes: Buffer }) => Promise<void>;
  /** How many accepted messages are still being routed or delivered (for backpressure at MAIL FROM). */
  readonly backlog?: () => number;
  /** Resolves when the backlog may have shrunk (any message done), or after `ms`. */
  readonly waitForProgress?: (ms: number) => Promise<void>;
  /**
   * Why mail cannot be stored now (a full disk, the DynamoDB store down), or undefined: MAIL FROM is
   * then answered 451, and so is a message whose storing failed for want of space.
   */
  readonly storageProblem?: (options?: { fresh?: boolean }) => Promise<string | undefined>;
  /** One line per refused recipient or message, for the operator. */
  readonly note?: (line: string) => void;
  readonly now?: () => Date;
}

/** An SMTP reply for smtp-server: its code and text (the enhanced status code is added by smtp-server). */
function smtpError(responseCode: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode });
}

/** 40 lower-case base-36 characters, time-ordered, like SES's message ids. */
export function newSesMessageId(now: Date): string {
  const time = now.getTime().toString(36).padStart(10, "0");
  const random = BigInt(`0x${randomHex(20)}`)
    .toString(36)
    .padStart(31, "0");
  return `${time}${random}`.slice(0, 40);
}

/**
 * Collects a message as it arrives: in memory up to INTAKE_MEMORY_SPOOL_BYTES, then in a spool file.
 * Keeps the first HEADER_PARSE_MAX_BYTES apart for header parsing either way.
 */
class Spool {
  private chunks: Buffer[] = [];
  private file: fs.promises.FileHandle | undefined;
  private head: Buffer[] = [];
  private headBytes = 0;
  size = 0;

  constructor(private readonly spoolPath: string) {}

  async write(chunk: Buffer): Promise<void> {
    if (this.headBytes < HEADER_PARSE_MAX_BYTES) {
      const part = chunk.subarray(0, HEADER_PARSE_MAX_BYTES - this.headBytes);
      this.head.push(part);
      this.headBytes += part.length;
    }
    this.size += chunk.length;
    if (!this.file && this.size <= INTAKE_MEMORY_SPOOL_BYTES) {
      this.chunks.push(chunk);
      return;
    }
    if (!this.file) {
      this.file = await fs.promises.open(this.spoolPath, "wx", 0o600);
      for (const held of this.chunks) await this.file.write(held);
      this.chunks = [];
    }
    await this.file.write(chunk);
  }

  /** The first bytes, for the header block. */
  headBuffer(): Buffer {
    return Buffer.concat(this.head);
  }

  get spooled(): boolean {
    return this.file !== undefined;
  }

  async seal(): Promise<void> {
    await this.file?.close();
  }

  /** The message as mailauth reads it: the bytes, or a fresh stream of the spool file. */
  authInput(): Buffer | Readable {
    return this.file ? fs.createReadStream(this.spoolPath, { highWaterMark: 256 * 1024 }) : Buffer.concat(this.chunks);
  }

  /** The message after `prefix` as one buffer, when it was held in memory; undefined when it was spooled. */
  bytesWith(prefix: Buffer): Buffer | undefined {
    return this.file ? undefined : Buffer.concat([prefix, ...this.chunks]);
  }

  /** The message after `prefix`: one buffer when it was held in memory (one write), else a stream of the spool. */
  withPrefix(prefix: Buffer): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
    if (!this.file) return [Buffer.concat([prefix, ...this.chunks])];
    const spool = fs.createReadStream(this.spoolPath, { highWaterMark: 1024 * 1024 });
    return (async function* () {
      yield prefix;
      yield* spool as AsyncIterable<Buffer>;
    })();
  }

  async discard(): Promise<void> {
    this.chunks = [];
    this.head = [];
    if (this.file) {
      await this.file.close().catch(() => undefined);
      await fs.promises.rm(this.spoolPath, { force: true });
    }
  }
}

function describeSender(session: SMTPServerSession): string {
  return session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
}

/** The Received header's `with` (RFC 3848), or its SMTPUTF8 form (RFC 6531 §3.7.3: UTF8SMTP, UTF8SMTPS, …). */
function protocolOf(session: SMTPServerSession): string {
  const protocol = session.transmissionType || (session.secure ? "ESMTPS" : "ESMTP");
  return session.envelope.smtpUtf8 ? protocol.replace(/^ESMTP/, "UTF8SMTP") : protocol;
}

/** The postmaster recipient without a domain, which every SMTP server must accept (RFC 5321 §4.5.1). */
const BARE_POSTMASTER = "postmaster";

/**
 * Whose connection this is, for SMTP_MAX_CLIENTS_PER_ADDRESS: the IPv4 address, or the /64 an IPv6
 * address is in (one host typically has the whole /64).
 */
export function clientKey(remoteAddress: string): string {
  const address = remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  if (isIP(address) !== 6) return address;
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/**
 * smtp-server with two additions on every connection: quoted local parts in MAIL FROM and RCPT TO
 * (quoted-paths.ts), and a limit on connections per client address.
 */
class IntakeSmtpServer extends SMTPServer {
  private readonly perClient = new Map<string, number>();
  private readonly counted = new WeakMap<SMTPServerSession, string>();

  override connect(...args: Parameters<SMTPServer["connect"]>): void {
    super.connect(...args);
    const connection = [...this.connections].at(-1);
    if (connection) acceptQuotedLocalParts(connection);
  }

  /** Counts a connection against its client's limit; false when the client already has its share. */
  admitClient(session: SMTPServerSession): boolean {
    const key = clientKey(session.remoteAddress);
    const open = this.perClient.get(key) ?? 0;
    if (open >= SMTP_MAX_CLIENTS_PER_ADDRESS) return false;
    this.perClient.set(key, open + 1);
    this.counted.set(session, key);
    return true;
  }

  releaseClient(session: SMTPServerSession): void {
    const key = this.counted.get(session);
    if (key === undefined) return;
    this.counted.delete(session);
    const open = (this.perClient.get(key) ?? 1) - 1;
    if (open > 0) this.perClient.set(key, open);
    else this.perClient.delete(key);
  }
}

export function createIntakeServer(options: IntakeOptions): SMTPServer {
  const domains = options.domains.map((domain) => domain.toLowerCase());
  const now = options.now ?? (() => new Date());
  const note = options.note ?? (() => undefined);

  async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const receivedAt = now();
    const messageId = newSesMessageId(receivedAt);
    const spool = new Spool(options.store.spoolPath(messageId));
    let accepted = false;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        // Past the limit the rest is only drained: smtp-server answers 552 (rejectOversized).
        if (!stream.sizeExceeded) await spool.write(chunk);
      }
      if (stream.sizeExceeded) {
        note(`552 from ${describeSender(session) || "<>"}: ${stream.byteLength} bytes is over the ${SES_MAX_MESSAGE_BYTES}-byte limit`);
        throw smtpError(552, `message exceeds the ${SES_MAX_MESSAGE_BYTES}-byte limit`);
      }
      await spool.seal();

      const sender = describeSender(session);
      const recipients = session.envelope.rcptTo.map((rcpt) => recipientOf(rcpt.address).address);
      const ip = session.remoteAddress.replace(/^::ffff:/, "");
      const helo = session.hostNameAppearsAs || ip;
      const auth = await authenticateMessage(spool.authInput(), { ip, helo, sender, mta: options.hostname, resolver: options.resolver });
      const prefix = traceHeaderBytes([
        receivedHeader({
          helo,
          clientHostname: session.clientHostname,
          ip,
          mta: options.hostname,
          protocol: protocolOf(session),
          messageId,
          recipients,
          date: receivedAt,
        }),
        auth.header,
      ]);
      // Most mail: written unsynced, its bytes made durable with its notification (file-message-store.ts).
      const bytes = spool.bytesWith(prefix);
      let rawMessage: { key: string; bytes: Buffer } | undefined;
      let location: MessageLocation;
      if (bytes && options.store.journals(bytes.length)) {
        ({ location } = await options.store.writeJournaled(messageId, bytes));
        rawMessage = { key: location.key, bytes };
      } else {
        ({ location } = await options.store.write(messageId, bytes ? [bytes] : spool.withPrefix(prefix)));
      }
      const notification = buildReceiptNotification({
        messageId,
        receivedAt,
        source: sender,
        recipients,
        block: parseHeaderBlock(spool.headBuffer()),
        verdicts: { spam: "DISABLED", virus: "DISABLED", ...auth.verdicts },
        location,
        processingTimeMillis: now().getTime() - receivedAt.getTime(),
      });
      await options.publish(JSON.stringify(notification), rawMessage);
      accepted = true;
      return `Ok: queued as ${messageId}`;
    } catch (error) {
      if (error instanceof Error && "responseCode" in error) throw error;
      note(`451 from ${describeSender(session) || "<>"}: could not store the message: ${errorMessage(error)}`);
      // Out of space (or the store down): the next MAIL FROM is refused before any data is sent.
      await options.storageProblem?.({ fresh: true }).catch(() => undefined);
      // The client keeps the message and tries again later; nothing half-stored is referenced.
      await options.store.delete(options.store.locationOf(messageId)).catch(() => undefined);
      throw smtpError(451, "local error in processing, try again later");
    } finally {
      await spool.discard();
      if (!accepted && !stream.readableEnded) stream.resume();
    }
  }

  /**
   * Refuse while mail cannot be stored; backpressure: wait while the backlog is past the soft limit
   * (at most IN_FLOW_DELAY_MAX_MS), refuse past the hard one.
   */
  async function admit(): Promise<void> {
    const problem = await options.storageProblem?.();
    if (problem !== undefined) {
      note(`451 at MAIL FROM: cannot store mail now: ${problem}`);
      throw smtpError(451, "insufficient system storage, try again later");
    }
    const { backlog, waitForProgress } = options;
    if (!backlog) return;
    if (backlog() >= INTAKE_BACKLOG_HARD_LIMIT) {
      note(`451 at MAIL FROM: ${backlog()} messages are waiting to be delivered`);
      throw smtpError(451, "too much mail waiting to be delivered, try again later");
    }
    const deadline = Date.now() + IN_FLOW_DELAY_MAX_MS;
    while (backlog() >= INTAKE_BACKLOG_SOFT_LIMIT && Date.now() < deadline && waitForProgress) {
      await waitForProgress(deadline - Date.now());
    }
  }

  /** An envelope recipient as routed: the bare postmaster is the postmaster of the first domain. */
  function recipientOf(address: string): EmailAddress {
    return parseAddress(address.toLowerCase() === BARE_POSTMASTER ? `${BARE_POSTMASTER}@${domains[0]}` : address);
  }

  const server: IntakeSmtpServer = new IntakeSmtpServer({
    name: options.hostname,
    banner: "ses-mail local mode",
    size: SES_MAX_MESSAGE_BYTES,
    rejectOversized: true,
    // RFC 3463 codes in every reply (550 5.1.1, 552 5.3.4, 452 4.5.3), as SES gives them.
    hideENHANCEDSTATUSCODES: false,
    maxRecipients: MAX_RECIPIENTS_PER_MESSAGE,
    // An inbound MX: anyone may send without logging in, and there is nothing to log in to.
    authOptional: true,
    disabledCommands: ["AUTH"],
    key: options.tls.key,
    cert: options.tls.cert,
    // No reverse DNS: this machine may have none, and it would only slow every connection down.
    disableReverseLookup: true,
    maxClients: SMTP_MAX_CLIENTS,
    socketTimeout: SMTP_SOCKET_TIMEOUT_MS,
    closeTimeout: SMTP_CLOSE_TIMEOUT_MS,
    logger: false,

    onConnect(session, callback) {
      if (server.admitClient(session)) {
        callback();
        return;
      }
      note(`421 to ${session.remoteAddress}: it already has ${SMTP_MAX_CLIENTS_PER_ADDRESS} connections open`);
      callback(smtpError(421, `${options.hostname} too many connections from your address, try again later`));
    },

    onClose(session) {
      server.releaseClient(session);
    },

    onMailFrom(_address, _session, callback) {
      admit().then(
        () => callback(),
        (error: Error) => callback(error),
      );
    },

    onRcptTo(address, session, callback) {
      let domain: string;
      try {
        domain = recipientOf(address.address).domain;
      } catch (error) {
        callback(smtpError(553, `bad recipient address syntax: ${errorMessage(error)}`));
        return;
      }
      if (!domains.includes(domain)) {
        note(`550 from ${describeSender(session) || "<>"} → ${address.address}: ${domain} is not a domain of this stack`);
        callback(smtpError(550, `mailbox unavailable: ${domain} is not handled here`));
        return;
      }
      callback();
    },

    onData(stream, session, callback) {
      receive(stream, session).then(
        (reply) => {
          callback(null, reply);
          crashPoint("accepted");
        },
        (error: Error) => callback(error),
      );
    },
  });
  // A client that misbehaves (resets, TLS garbage) is its own problem, never a crash.
  server.on("error", (error) => note(`smtp: ${error.message}`));
  return server;
}
