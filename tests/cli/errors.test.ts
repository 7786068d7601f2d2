import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main } from "../../cli/main";
import { captureOutput } from "../helpers/cli";

/** Errors name things the way the user wrote them: the key in the file, the file given, the flag typed. */
describe("errors in the user's words", () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-errors-"))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await main(argv, out, { PATH: process.env.PATH });
    return { code, ...out };
  }

  it("a config typo names the key and suggests the known one, whatever command reads the file", async () => {
    // Prepare: `domain` for `domains`.
    const file = path.join(dir, "Pulumi.typo.yaml");
    fs.writeFileSync(file, "config:\n  aws:region: eu-west-2\n  ses-mail:domain:\n    - mail.family-smith.net\n");

    // Act
    const results = [
      await cli("rules", "list", "--table", "t", "--config", file),
      await cli("dns", "--stack", "typo", "--config", file),
      await cli("synth", "--stack", "typo", "--config", file),
    ];

    // Assess
    expect(results.map((result) => [result.code, result.stderr[result.stderr.length - 1]])).toEqual([
      [1, "ses-mail rules list: ses-mail:domain: unknown key; did you mean ses-mail:domains?"],
      [1, "ses-mail dns: ses-mail:domain: unknown key; did you mean ses-mail:domains?"],
      [1, "ses-mail synth: ses-mail:domain: unknown key; did you mean ses-mail:domains?"],
    ]);
  });

  it("route --event with something that is not a notification names the file, not an SQS record", async () => {
    const file = path.join(dir, "empty.json");
    fs.writeFileSync(file, "{}");

    const result = await cli("route", "--event", file, "--table", "t", "--config", "Pulumi.test.yaml");

    expect(result.code).toBe(1);
    expect(result.stderr.join("\n")).not.toMatch(/SQS/);
    expect(result.stderr).toEqual([
      `ses-mail route: ${file}: not an SES receipt notification at notificationType: Invalid input: expected "Received"\n` +
        '--event takes an SES receipt notification as SNS delivers it (its "notificationType" is "Received"), e.g. tests/fixtures/ses-receipt-notification.json',
    ]);
  });

  it("a value with a space that was not quoted is named, with the fix", async () => {
    const result = await cli("rules", "add", "x@test.example.com", "--drop", "--description", "old", "news", "--local");
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(
      /^ses-mail rules add: expected 1 argument\(s\), got 2 \("news" is one too many: quote a value that has spaces\)/,
    );
  });
});
