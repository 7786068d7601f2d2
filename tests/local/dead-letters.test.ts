/**
 * Local dead letters, end to end: a message dead-lettered while its Maildir cannot be written keeps the
 * real error, is announced at the next start, shows in `status`, `dlq show` and `trace`, and is
 * delivered once after `dlq redrive`, all through the commands an operator runs. Local mode runs as
 * its own process (as `npm start` does): inside jest, errors from Node's fs come from another realm and
 * Powertools idempotency would not pass them through unchanged.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createTransport } from "nodemailer";
import { main } from "../../cli/main";
import { readDeadLetters } from "../../adapters/local/queue";
import { DELIVERY_LOCK_VARIABLE } from "../../local/crash-points";
import { captureOutput } from "../helpers/cli";
import { killChildren, LOCAL_CHILD_TEST_TIMEOUT_MS, spawnLocalMode, type LocalModeChild } from "../helpers/local-child";
import { makeTempDir, TEST_ZONE } from "../helpers/local-mode";

jest.setTimeout(LOCAL_CHILD_TEST_TIMEOUT_MS);

const CONFIG = `config:
  ses-mail:domains:
    - test.example.com
  ses-mail:routes:
    - recipient: dead@test.example.com
      actions:
        - type: forward-to-gmail
          target: dead@gmail.com
`;
/** Retries of the forwarder come after this (the delivery lock), instead of 30 s. The console is left as an operator gets it (no POWERTOOLS_LOG_LEVEL). */
const LOCK_MS = "200";

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

async function cli(argv: string[]) {
  const out = captureOutput();
  const code = await main(argv, out, { PATH: process.env.PATH });
  return { code, ...out };
}

async function send(port: number): Promise<string> {
  const transport = createTransport({ host: "127.0.0.1", port, tls: { rejectUnauthorized: false } });
  try {
    const info = (await transport.sendMail({
      envelope: { from: "alice@sender.example", to: ["dead@test.example.com"] },
      raw: "From: alice@sender.example\r\nSubject: dead letter\r\nMessage-ID: <dead-1@sender.example>\r\n\r\nbody\r\n",
    })) as { response: string };
    return /queued as ([a-z0-9]{40})$/.exec(info.response)![1]!;
  } finally {
    transport.close();
  }
}

function delivered(maildir: string): number {
  let count = 0;
  for (const sub of ["new", "cur"]) {
    const folder = path.join(maildir, sub);
    if (fs.existsSync(folder))
      for (const name of fs.readdirSync(folder))
        if (fs.readFileSync(path.join(folder, name), "latin1").includes("<dead-1@sender.example>")) count++;
  }
  return count;
}

describe("local dead letters", () => {
  let dir: string;
  let dataDir: string;
  const children: LocalModeChild[] = [];
  const start = () => {
    const child = spawnLocalMode({
      config: path.join(dir, "Pulumi.test.yaml"),
      dataDir,
      resolver: path.join(dir, "zone.json"),
      cwd: dir,
      env: { [DELIVERY_LOCK_VARIABLE]: LOCK_MS, POWERTOOLS_LOG_LEVEL: undefined },
    });
    children.push(child);
    return child;
  };
  beforeAll(async () => {
    dir = await makeTempDir("ses-mail-dlq-");
    dataDir = path.join(dir, "data");
    fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), CONFIG);
    fs.writeFileSync(path.join(dir, "zone.json"), JSON.stringify(TEST_ZONE));
  });
  afterAll(async () => {
    await killChildren(children);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keep the error of a Maildir that could not be written, survive a restart, and are delivered once after a redrive", async () => {
    // Prepare: the account's Maildir path is taken by a file, so every import fails.
    const maildir = path.join(dataDir, "mail", "dead@gmail.com");
    fs.mkdirSync(path.dirname(maildir), { recursive: true });
    fs.writeFileSync(maildir, "not a Maildir");
    const first = start();

    // Act 1: the message is accepted, fails three times and is dead-lettered.
    const id = await send(await first.smtpPort());
    const line = await first.waitFor(new RegExp(`^\\S+ ${id} alice@sender\\.example → `));
    first.process.kill("SIGINT");
    await first.exited;

    // Assess 1: one short line per retry, then the message's line with the real error and the command to run.
    const showCommand = `ses-mail dlq show --queue forwarder --local --data-dir data`;
    expect(first.output.filter((output) => output.includes(`${id} forwarder attempt`))).toEqual([
      expect.stringMatching(
        / forwarder attempt 1 failed, retrying in 200 ms: UNEXPECTED: ENOTDIR: not a directory, mkdir '.*dead@gmail\.com\/tmp'$/,
      ),
      expect.stringMatching(/ forwarder attempt 2 failed, retrying in 200 ms: UNEXPECTED: ENOTDIR: not a directory/),
    ]);
    expect(line).toMatch(
      new RegExp(
        `dead@test\\.example\\.com: forward-to-gmail dead@gmail\\.com — FAILED: dead letter in gmail-forwarder after 3 attempt\\(s\\): UNEXPECTED: ENOTDIR: not a directory, .* \\(${escape(showCommand)}\\) \\(\\d+ ms\\)$`,
      ),
    );
    expect(first.output.filter((output) => output.trimStart().startsWith("{"))).toEqual([]);
    const [letter] = await readDeadLetters(path.join(dataDir, "queues", "gmail-forwarder-dlq"));
    expect(letter?.error).toEqual({
      code: "UNEXPECTED",
      message: expect.stringMatching(/^ENOTDIR: not a directory, mkdir '.*dead@gmail\.com\/tmp'$/),
    });

    // Act 2: the fault is fixed and local mode started again.
    fs.rmSync(maildir);
    const second = start();
    await second.smtpPort();

    // Assess 2: the start-up summary says what waits and which command shows it; status, dlq show and trace agree.
    expect(await second.waitFor(/^ {2}dead letters /)).toBe(`  dead letters 1 in the forwarder queue wait for you: ${showCommand}`);
    const status = await cli(["status", "--local", "--data-dir", dataDir]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContainEqual(
      expect.stringMatching(
        new RegExp(`^forwarder\\s+0\\s+-\\s+1 {2}← ses-mail dlq show --queue forwarder --local --data-dir ${escape(dataDir)}$`),
      ),
    );
    const shown = await cli(["dlq", "show", "--queue", "forwarder", "--local", "--data-dir", dataDir]);
    expect(shown.code).toBe(0);
    expect(shown.stdout[0]).toBe(`queues/gmail-forwarder-dlq in ${dataDir}: 1 message(s):`);
    expect(shown.stdout).toContainEqual(expect.stringMatching(new RegExp(`^ {4}why \\(${id}\\): UNEXPECTED: ENOTDIR: not a directory`)));
    expect(shown.stdout.at(-1)).toBe(`move them back with: ses-mail dlq redrive --queue forwarder --local --data-dir ${dataDir}`);
    const traced = await cli(["trace", id, "--local", "--data-dir", dataDir]);
    expect(traced.stdout).toContainEqual(
      expect.stringMatching(/^ {2}dead letter in gmail-forwarder: UNEXPECTED: ENOTDIR: not a directory/),
    );
    expect(traced.stdout).toContain(`    send it back with: ses-mail dlq redrive --queue forwarder --local --data-dir ${dataDir}`);
    expect(traced.stdout).toContain(`  raw message emails/${id}: kept`);

    // Act 3: redrive it while local mode runs.
    const redriven = await cli(["dlq", "redrive", "--queue", "forwarder", "--local", "--data-dir", dataDir, "--yes"]);
    await second.waitFor(
      new RegExp(`${id} alice@sender\\.example → dead@test\\.example\\.com: forward-to-gmail dead@gmail\\.com \\(\\d+ ms\\)$`),
    );
    second.process.kill("SIGINT");
    await second.exited;

    // Assess 3: delivered once, nothing left in the dead-letter queue, and trace tells the whole story.
    expect(redriven.code).toBe(0);
    expect(redriven.stdout.at(-1)).toBe(
      "moved 1 message(s) from queues/gmail-forwarder-dlq back to queues/gmail-forwarder: local mode takes them within a second while it runs, or at its next start",
    );
    expect(delivered(maildir)).toBe(1);
    expect(await readDeadLetters(path.join(dataDir, "queues", "gmail-forwarder-dlq"))).toEqual([]);
    const after = await cli(["trace", id, "--local", "--data-dir", dataDir, "--json"]);
    const fate = after.jsonValues[0] as { outcomes: Array<{ kind: string }>; places: Array<{ kind: string }> };
    expect(fate.outcomes.map((outcome) => outcome.kind)).toEqual([
      "routed",
      "import-failed",
      "import-failed",
      "import-failed",
      "dead-lettered",
      "imported",
      "raw-message-deleted",
    ]);
    expect(fate.places.map((place) => place.kind)).toEqual(["mailbox", "raw-message"]);
  });

  it("refuse queues local mode does not have, and an empty queue has nothing to move", async () => {
    // Act
    const eventRouting = await cli(["dlq", "show", "--queue", "event-routing", "--local", "--data-dir", dataDir]);
    const both = await cli(["dlq", "show", "--queue", "input", "--local", "--data-dir", dataDir, "--stack", "test"]);
    const nowhere = await cli(["dlq", "show", "--queue", "input"]);
    const empty = await cli(["dlq", "redrive", "--queue", "bouncer", "--local", "--data-dir", dataDir]);
    const replay = await cli(["dlq", "redrive", "--queue", "retry", "--replay", "--local", "--data-dir", dataDir]);

    // Assess
    expect(eventRouting).toMatchObject({
      code: 1,
      stderr: ["ses-mail dlq show: local mode has no event-routing dead-letter queue; its queues are input, forwarder, bouncer, retry"],
    });
    expect(both).toMatchObject({ code: 1, stderr: ["ses-mail dlq show: give --stack or --local, not both"] });
    expect(nowhere).toMatchObject({
      code: 1,
      stderr: ["ses-mail dlq show: say which dead-letter queues: (--stack NAME [--config FILE] | --local [--data-dir DIR])"],
    });
    expect(empty).toMatchObject({ code: 0, stdout: [`queues/bouncer-dlq in ${dataDir} is empty: nothing to move`] });
    expect(replay).toMatchObject({
      code: 1,
      stderr: ["ses-mail dlq redrive: --replay is for a deployed stack's retry processor: local mode's retry queue replays by itself"],
    });
  });
});
