import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SMTPServer } from "smtp-server";
import { FileMessageStore } from "../../adapters/local/file-message-store";
import { createSelfSignedCertificate } from "../../local/certificate";
import { createIntakeServer, newSesMessageId, type IntakeOptions } from "../../local/intake";
import { INTAKE_BACKLOG_HARD_LIMIT, INTAKE_BACKLOG_SOFT_LIMIT } from "../../local/limits";
import { zoneResolver } from "../../local/resolver";
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

  it("names each message with a 40-character, time-ordered id like SES's", () => {
    // Act
    const first = newSesMessageId(new Date("2026-11-28T10:00:00Z"));
    const second = newSesMessageId(new Date("2026-11-28T10:00:01Z"));

    // Assess
    expect(first).toMatch(/^[a-z0-9]{40}$/);
    expect(first < second).toBe(true);
  });
});
