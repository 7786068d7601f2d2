/**
 * Local mode with the real Gmail adapter (`--gmail-secrets`), against the Gmail-compatible test server:
 * the same forwarder, now importing over Google's upload protocol instead of into a Maildir.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { main } from "../../cli/main";
import { oauthClientParameter, refreshTokenParameter } from "../../core/parameters";
import { startLocalMode, type LocalMode } from "../../local/mode";
import { captureOutput } from "../helpers/cli";
import { FAKE_CLIENT, startFakeGoogle, type FakeGoogle } from "../helpers/fake-google";
import { makeTempDir, sendMail, testConfig, TEST_ZONE } from "../helpers/local-mode";

describe("local mode with real Gmail", () => {
  let dir: string;
  let google: FakeGoogle;
  let mode: LocalMode;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = await makeTempDir("ses-mail-gmail-");
    google = await startFakeGoogle();
    google.addAccount("me@gmail.com", "1//me-refresh");
    const secrets = {
      [oauthClientParameter("test")]: { installed: FAKE_CLIENT },
      [refreshTokenParameter("test", "me@gmail.com")]: { refresh_token: "1//me-refresh" },
      [refreshTokenParameter("test", "expired@gmail.com")]: { refresh_token: "1//expired" },
    };
    fs.writeFileSync(path.join(dir, "secrets.json"), JSON.stringify(secrets));
    fs.writeFileSync(path.join(dir, "zone.json"), JSON.stringify(TEST_ZONE));
    mode = await startLocalMode({
      config: testConfig({
        routes: [
          { recipient: "me@test.example.com", actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }] },
          { recipient: "expired@test.example.com", actions: [{ type: "forward-to-gmail", target: "expired@gmail.com" }] },
        ],
      }),
      dataDir: path.join(dir, "data"),
      smtpPort: 0,
      dynamodbPort: 0,
      resolverFile: path.join(dir, "zone.json"),
      gmailSecretsFile: path.join(dir, "secrets.json"),
      gmailApiUrl: google.baseUrl,
      oauthTokenUrl: google.tokenUrl,
      hostname: "mx.local.test",
      output: (line) => lines.push(line),
      retryDelayMs: () => 1,
    });
  });
  afterAll(async () => {
    await mode?.close();
    await google?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("imports the stored bytes into the Gmail account with the decision's labels", async () => {
    // Prepare
    const raw = Buffer.from("From: alice@sender.example\r\nTo: me@test.example.com\r\nSubject: to Gmail\r\n\r\nbody\r\n");

    // Act
    await sendMail(mode, { from: "alice@sender.example", to: ["me@test.example.com"], raw });
    await mode.idle();

    // Assess
    expect(google.imports).toHaveLength(1);
    const [imported] = google.imports;
    expect(imported?.account).toBe("me@gmail.com");
    expect(imported?.labels).toEqual(["INBOX", "UNREAD"]);
    expect(imported?.body?.subarray(-raw.length)).toEqual(raw);
    expect(imported?.body?.toString("latin1")).toMatch(/^Received: from /);
    expect(fs.existsSync(path.join(mode.maildirRoot, "me@gmail.com"))).toBe(false);
  });

  it("parks the delivery in the retry queue when the account's token is refused, and says so", async () => {
    // Prepare
    google.revokeRefreshToken("1//expired");

    // Act
    await sendMail(mode, { from: "alice@sender.example", to: ["expired@test.example.com"], raw: "Subject: parked\r\n\r\nbody\r\n" });
    // Not mode.idle(): that would wait out the parked message's delay.
    await mode.pipeline.input.idle();
    await mode.pipeline.forwarderQueue.idle();

    // Assess: parked for an operator (with SQS's delay), not failed; trace says since when and why.
    expect(mode.pipeline.retryQueue.depth).toBe(1);
    const line = lines.find((candidate) => candidate.includes("expired@gmail.com needs an operator: parked in the retry queue"));
    expect(lines).toContainEqual(expect.stringContaining("expired@gmail.com needs an operator: parked in the retry queue"));
    expect(lines.filter((candidate) => candidate.includes("FAILED"))).toEqual([]);
    const id = line!.split(" ")[1]!;
    const out = captureOutput();
    const code = await main(["trace", id, "--data-dir", mode.dataDir], out, { PATH: process.env.PATH });
    expect(code).toBe(0);
    expect(out.stdout).toContainEqual(
      expect.stringMatching(
        /^ {2}\S+\s+expired@gmail\.com needs an operator: parked in the retry queue \(attempt 1, since \S+\): MAILBOX_AUTHORIZATION: /,
      ),
    );
    // Where it is now: the retry queue hands a parked delivery straight back to the forwarder, which parks
    // it again with a delay, so by now this may be its first parking or its second.
    expect(out.stdout).toContainEqual(
      expect.stringMatching(/^ {2}parked for expired@gmail\.com since \d{4}-\d\d-\d\dT\S+Z \(attempt [12]\): MAILBOX_AUTHORIZATION: /),
    );
    expect(out.stdout).toContain(`  raw message emails/${id}: kept`);
  });
});
