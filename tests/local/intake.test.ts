import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { SMTPServer } from "smtp-server";
import { FileMessageStore } from "../../adapters/local/file-message-store";
import { createSelfSignedCertificate } from "../../local/certificate";
import { clientKey, createIntakeServer, newSesMessageId, type IntakeOptions } from "../../local/intake";
import { INTAKE_BACKLOG_HARD_LIMIT, INTAKE_BACKLOG_SOFT_LIMIT, SMTP_MAX_CLIENTS_PER_ADDRESS } from "../../local/limits";
import { zoneResolver } from "../../local/resolver";
import { createTransport } from "nodemailer";
import { RawSmtpClient } from "../helpers/local-mode";

const TLS = createSelfSignedCertificate({ commonName: "mx.test", altNames: ["localhost"] });

describe("SMTP intake", () => {
  let dir: string;
  let server: SMTPServer | undefined;
  const published: string[] = [];

  async function start(overrides: Partial<IntakeOptions> = {}): Promise<{ smtpHost: string; smtpPort: number }> {
    const store = new FileMessageStore({ root: dir, bucket: "b" });
    await store.init();
    server = createIntakeServer({
      domains: ["test.example.com"],
      store,
      resolver: zoneResolver({}),
      hostname: "mx.test",
      tls: TLS,
      publish: async (notification) => void published.push(notification),
      ...overrides,
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    return { smtpHost: "127.0.0.1", smtpPort: (server.server.address() as { port: number }).port };
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-intake-"));
    published.length = 0;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers 451 and keeps nothing when the notification cannot be published, so the client retries", async () => {
    // Prepare
    const address = await start({ publish: async () => Promise.reject(new Error("disk full")) });
    const { client } = await RawSmtpClient.connect(address);
    await client.send("EHLO client.test");

    // Act
    const replies = await client.transaction("alice@sender.example", ["bob@test.example.com"], Buffer.from("Subject: x\r\n\r\nbody\r\n"));
    await client.quit();

    // Assess
    expect(replies.at(-1)).toMatch(/^451 /);
    expect(fs.readdirSync(path.join(dir, "emails")).filter((name) => !name.startsWith("."))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, "emails", ".tmp"))).toEqual([]);
  });

  it("holds MAIL FROM while the backlog is past the soft limit, and refuses it past the hard limit", async () => {
    // Prepare
    let backlog = INTAKE_BACKLOG_SOFT_LIMIT + 1;
    const waits: number[] = [];
    const address = await start({
      backlog: () => backlog,
      waitForProgress: async (ms) => {
        waits.push(ms);
        backlog = 0; // a delivery finished meanwhile
      },
    });
    const { client } = await RawSmtpClient.connect(address);
    await client.send("EHLO client.test");

    // Act
    const held = await client.send("MAIL FROM:<alice@sender.example>");
    await client.send("RSET");
    backlog = INTAKE_BACKLOG_HARD_LIMIT;
    const refused = await client.send("MAIL FROM:<alice@sender.example>");
    await client.quit();

    // Assess
    expect(held).toMatch(/^250 /);
    expect(waits).toHaveLength(1);
    expect(refused).toMatch(/^451 4\.3\.\d /);
  });

  /** The stored message behind each published notification. */
  function storedMessages(): Buffer[] {
    return published.map((text) => {
      const notification = JSON.parse(text) as { receipt: { action: { objectKey: string } } };
      return fs.readFileSync(path.join(dir, notification.receipt.action.objectKey));
    });
  }

  /**
   * The header block local mode wrote in front of the client's bytes, as it would be read back: every
   * line is `Name: value` or a folded continuation (starting with a space), and no byte in it is a
   * control character other than the CRLF that ends a line.
   */
  function ourHeaders(stored: Buffer, original: Buffer): { names: string[]; text: string } {
    expect(stored.subarray(stored.length - original.length)).toEqual(original);
    const prefix = stored.subarray(0, stored.length - original.length);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(prefix);
    expect(text).toMatch(/\r\n$/);
    const lines = text.slice(0, -2).split("\r\n");
    for (const line of lines) {
      // eslint-disable-next-line no-control-regex -- control characters are what must be absent
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      expect(line).toMatch(/^(?:[A-Za-z-]+: | )/);
    }
    return { names: lines.filter((line) => !line.startsWith(" ")).map((line) => line.slice(0, line.indexOf(":"))), text };
  }

  describe("trace headers a client cannot forge", () => {
    const original = Buffer.from("From: someone@sender.example\r\nSubject: trace\r\n\r\nbody\r\n");

    /** One transaction with SMTPUTF8 declared (RFC 6531), the content needing no dot-stuffing. */
    async function utf8Transaction(client: RawSmtpClient, from: string, to: string): Promise<string[]> {
      const replies = [await client.send(`MAIL FROM:<${from}> SMTPUTF8`), await client.send(`RCPT TO:<${to}>`), await client.send("DATA")];
      if (replies.at(-1)!.startsWith("354")) replies.push(await client.send(Buffer.concat([original, Buffer.from(".\r\n")])));
      return replies;
    }

    /** Every UTF-16 code unit whose low byte is a C0 control or DEL (U+4E0D's low byte is CR, U+4E0A's is LF), surrogates aside. */
    function lowByteControls(): string[] {
      const units: string[] = [];
      for (let high = 0x01; high <= 0xff; high++) {
        if (high >= 0xd8 && high <= 0xdf) continue;
        for (const low of [...Array.from({ length: 0x20 }, (_, i) => i), 0x7f]) units.push(String.fromCharCode((high << 8) | low));
      }
      return units;
    }

    it("keeps every code unit whose low byte is a control character out of the header bytes (EHLO and MAIL FROM over SMTPUTF8)", async () => {
      // Prepare
      // smtp-server refuses a few of them: Unicode whitespace (U+2000…U+200A, U+3000) splits an SMTP
      // argument, and U+200B is refused in addresses (an invisible character). Each of those goes alone,
      // where refusing is a fine answer; all the others must be accepted and stored safely.
      const units = lowByteControls();
      const refusable = (unit: string) => /[\s\u200b]/.test(unit);
      const spaces = units.filter(refusable);
      const chunks: string[] = [];
      const others = units.filter((unit) => !refusable(unit));
      for (let i = 0; i < others.length; i += 60) chunks.push(others.slice(i, i + 60).join(""));
      const address = await start();
      const { client } = await RawSmtpClient.connect(address);

      // Act
      const accepted: string[] = [];
      for (const chunk of chunks) {
        const helo = await client.send(`EHLO h${chunk}.example`);
        const replies = await utf8Transaction(client, `${chunk}@sender.example`, "bob@test.example.com");
        if (helo.startsWith("250") && replies.at(-1)!.startsWith("250")) accepted.push(chunk);
      }
      for (const space of spaces) {
        await client.send(`EHLO h${space}x.example`);
        await utf8Transaction(client, `x${space}y@sender.example`, "bob@test.example.com");
      }
      await client.quit();

      // Assess: the server took every chunk, and each stored header block is only our two headers.
      expect(units).toHaveLength(247 * 33);
      expect(accepted).toEqual(chunks);
      const stored = storedMessages();
      expect(stored.length).toBeGreaterThanOrEqual(chunks.length);
      for (const message of stored) expect(ourHeaders(message, original).names).toEqual(["Received", "Authentication-Results"]);
    });

    it.each([
      [
        "EHLO",
        "evil.example\u4e0d\u4e0aAuthentication-Results:\u4e00mx.test;\u4e00dkim=pass;\u4e00dmarc=pass\u4e0d\u4e0aX-Injected:\u4e00yes",
        "alice@sender.example",
      ],
      [
        "MAIL FROM",
        "client.example",
        "x\u4e0d\u4e0aAuthentication-Results:\u4e00mx.test;dkim=pass;dmarc=pass\u4e0d\u4e0aX-Injected:yes@sender.example",
      ],
    ])("writes no header line a client smuggled in through %s", async (_where, helo, sender) => {
      // Prepare
      const address = await start();
      const { client } = await RawSmtpClient.connect(address);

      // Act
      await client.send(`EHLO ${helo}`);
      const replies = await utf8Transaction(client, sender, "bob@test.example.com");
      await client.quit();

      // Assess
      expect(replies.at(-1)).toMatch(/^250 /);
      const { names, text } = ourHeaders(storedMessages()[0]!, original);
      expect(names).toEqual(["Received", "Authentication-Results"]);
      expect(text).not.toMatch(/^X-Injected/m);
    });

    it("stores an internationalized sender (RFC 6532) as UTF-8, sent by nodemailer", async () => {
      // Prepare
      const address = await start();
      const transport = createTransport({
        host: address.smtpHost,
        port: address.smtpPort,
        tls: { rejectUnauthorized: false },
        name: "client.sender.example",
      });

      // Act
      try {
        await transport.sendMail({ envelope: { from: "张伟@sender.example", to: ["bob@test.example.com"] }, raw: original });
      } finally {
        transport.close();
      }

      // Assess
      const { text } = ourHeaders(storedMessages()[0]!, original);
      expect(text).toMatch(/ smtp\.mailfrom="?张伟@sender\.example"? /);
      expect(text).toMatch(/ with UTF8SMTPS? id /);
      expect(JSON.parse(published[0]!).mail.source).toBe("张伟@sender.example");
    });
  });

  describe("connections per client address", () => {
    /** Opens a connection from `localAddress` and resolves with the server's first reply line. */
    function connectFrom(port: number, localAddress: string): Promise<{ socket: net.Socket; greeting: string }> {
      return new Promise((resolve, reject) => {
        const socket = net.connect({ port, host: "127.0.0.1", localAddress });
        socket.once("error", reject);
        socket.once("data", (chunk) => resolve({ socket, greeting: chunk.toString("latin1").split("\r\n")[0]! }));
      });
    }
    const sockets: net.Socket[] = [];
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.destroy();
    });

    it(`lets one address hold at most ${SMTP_MAX_CLIENTS_PER_ADDRESS} connections, while others still get in`, async () => {
      // Prepare
      const lines: string[] = [];
      const { smtpPort } = await start({ note: (line) => lines.push(line) });
      const held = await Promise.all(Array.from({ length: SMTP_MAX_CLIENTS_PER_ADDRESS }, () => connectFrom(smtpPort, "127.0.0.1")));
      sockets.push(...held.map((connection) => connection.socket));

      // Act
      const refused = await connectFrom(smtpPort, "127.0.0.1");
      const other = await connectFrom(smtpPort, "127.0.0.2");
      sockets.push(refused.socket, other.socket);
      const closed = new Promise((resolve) => held[0]!.socket.once("close", resolve));
      held[0]!.socket.end("QUIT\r\n");
      await closed;
      // The server sees the close a moment after the client does: try until the slot is free.
      let afterOneLeft = await connectFrom(smtpPort, "127.0.0.1");
      for (let attempt = 0; attempt < 100 && afterOneLeft.greeting.startsWith("421"); attempt++) {
        afterOneLeft.socket.destroy();
        await new Promise((resolve) => setTimeout(resolve, 10));
        afterOneLeft = await connectFrom(smtpPort, "127.0.0.1");
      }
      sockets.push(afterOneLeft.socket);

      // Assess
      expect(held.map((connection) => connection.greeting.slice(0, 4))).toEqual(Array(SMTP_MAX_CLIENTS_PER_ADDRESS).fill("220 "));
      expect(refused.greeting).toMatch(/^421 mx\.test too many connections from your address/);
      expect(other.greeting).toMatch(/^220 /);
      expect(afterOneLeft.greeting).toMatch(/^220 /);
      expect(lines).toContainEqual(`421 to 127.0.0.1: it already has ${SMTP_MAX_CLIENTS_PER_ADDRESS} connections open`);
    });

    it.each([
      ["192.0.2.7", "192.0.2.7"],
      ["::ffff:192.0.2.7", "192.0.2.7"],
      ["2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"],
      ["2001:DB8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64"],
      ["2001:db8::5", "2001:db8:0:0::/64"],
      ["::1", "0:0:0:0::/64"],
    ])("counts %s as %s", (remote, key) => {
      expect(clientKey(remote)).toBe(key);
    });
  });

  it("names each message with a 40-character, time-ordered id like SES's", () => {
    // Act
    const first = newSesMessageId(new Date("2026-11-28T10:00:00Z"));
    const second = newSesMessageId(new Date("2026-11-28T10:00:01Z"));

    // Assess
    expect(first).toMatch(/^[a-z0-9]{40}$/);
    expect([second, first].sort()).toEqual([first, second]);
  });
});
