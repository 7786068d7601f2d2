import { execFile } from "node:child_process";
import * as path from "node:path";
import { runCli } from "../../cli/framework";
import { smtpPasswordCommands } from "../../cli/smtp-password";
import { smtpPasswordFromSecretKey } from "../../core/smtp-password";
import { captureOutput } from "../helpers/cli";

const ROOT = path.resolve(__dirname, "..", "..");
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

async function cli(input: string, ...argv: string[]) {
  const out = captureOutput();
  const code = await runCli(smtpPasswordCommands({ readSecret: async () => input }), ["smtp-password", ...argv], out, {
    PATH: process.env.PATH,
  });
  return { code, ...out };
}

describe("ses-mail smtp-password", () => {
  it("prints the password the credential manager would derive for that key and region", async () => {
    const result = await cli(`${SECRET}\n`, "--region", "eu-west-2");
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual([smtpPasswordFromSecretKey(SECRET, "eu-west-2")]);
    // Version byte 0x04 then a 32-byte HMAC: 33 bytes, 44 base64 characters (no padding) starting with "B".
    expect(result.stdout[0]).toMatch(/^B[A-Za-z0-9+/]{43}$/);
    expect(result.stderr[0]).toMatch(/^SMTP password for email-smtp.eu-west-2.amazonaws.com/);
  });

  it("derives a different password per region, and takes the region from the stack", async () => {
    const fromStack = await cli(SECRET, "--stack", "test", "--json");
    expect(fromStack.jsonValues[0]).toEqual({
      region: "eu-west-2",
      host: "email-smtp.eu-west-2.amazonaws.com",
      password: smtpPasswordFromSecretKey(SECRET, "eu-west-2"),
    });
    const other = await cli(SECRET, "--region", "us-east-1");
    expect(other.stdout[0]).not.toBe(smtpPasswordFromSecretKey(SECRET, "eu-west-2"));
  });

  it.each([
    ["", ["--region", "eu-west-2"], /no secret access key on standard input/],
    ["AKIAIOSFODNN7EXAMPLE", ["--region", "eu-west-2"], /that is an access key ID \(the SMTP username\), not the secret access key/],
    [`${SECRET}\n${SECRET}\n`, ["--region", "eu-west-2"], /more than one secret access key/],
    [SECRET, [], /say which region the password is for/],
    [
      SECRET,
      ["--region", "London"],
      /SES has no SMTP endpoint in "London" \(a password works only at its region's endpoint; regions with one: us-east-1, /,
    ],
    [SECRET, ["--region", "eu-west-9"], /SES has no SMTP endpoint in "eu-west-9"; did you mean eu-west-\d\?/],
  ])("input %j with %j is a user error", async (input, argv, reason) => {
    const result = await cli(input, ...argv);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(reason);
  });

  it("warns about a key of the wrong length but still derives it", async () => {
    const result = await cli("short", "--region", "eu-west-2");
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toMatch(/IAM secret access keys are 40 characters; this one has 5/);
  });

  it("reads the key from a pipe in the real command", async () => {
    const output = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [path.join(ROOT, "bin", "ses-mail.js"), "smtp-password", "--region", "eu-west-2"],
        { cwd: ROOT },
        (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr })),
      );
      child.stdin!.end(`${SECRET}\n`);
    });
    expect(output.stdout).toBe(`${smtpPasswordFromSecretKey(SECRET, "eu-west-2")}\n`);
  });
});
