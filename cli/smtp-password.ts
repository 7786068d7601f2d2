/**
 * `ses-mail smtp-password --region REGION`: the SES SMTP password of an IAM secret access key read
 * from standard input, for keys made outside ses-mail. The same derivation as the SMTP credential
 * manager (core/smtp-password.ts), so both always agree.
 */
import * as readline from "node:readline/promises";
import { Writable } from "node:stream";
import { closestMatch } from "../config/suggest";
import { smtpPasswordFromSecretKey } from "../core/smtp-password";
import { JSON_OPTION, UserError, type Command } from "./framework";
import { smtpHost } from "./smtp-users";
import { resolveStack, STACK_OPTIONS } from "./stack-target";

/** IAM secret access keys are 40 characters of base64. */
const SECRET_KEY_LENGTH = 40;
/** What an access key *id* looks like (long-term AKIA…, temporary ASIA…): pasted by mistake, it must not pass. */
const ACCESS_KEY_ID = /^(AKIA|ASIA)[A-Z0-9]{16}$/;
/** More than this on standard input is not a key; stop reading rather than buffer a file. */
const MAX_INPUT_BYTES = 4096;

/**
 * Regions with an SES SMTP endpoint (`email-smtp.<region>.amazonaws.com`), from the "SMTP endpoints"
 * table of the AWS General Reference page "Amazon Simple Email Service endpoints and quotas"
 * (docs.aws.amazon.com/general/latest/gr/ses.html), as of 2026-12. An SMTP password is derived for one
 * region and works only at that region's endpoint, so a region outside this list can never be used.
 * A region SES adds later is refused until it is added here.
 */
export const SES_SMTP_REGIONS: readonly string[] = [
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2",
  "ca-central-1",
  "ca-west-1",
  "sa-east-1",
  "af-south-1",
  "ap-south-1",
  "ap-south-2",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-northeast-3",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "eu-central-1",
  "eu-central-2",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "eu-north-1",
  "eu-south-1",
  "il-central-1",
  "me-central-1",
  "me-south-1",
  "us-gov-east-1",
  "us-gov-west-1",
];

export interface SmtpPasswordDeps {
  /** The secret key as typed or piped (trailing newline allowed). */
  readonly readSecret: (prompt: string) => Promise<string>;
}

async function readStdin(prompt: string): Promise<string> {
  if (process.stdin.isTTY) {
    // Typed at a terminal: ask, and do not echo the secret.
    process.stderr.write(prompt);
    const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
    const rl = readline.createInterface({ input: process.stdin, output: muted, terminal: true });
    try {
      return await rl.question("");
    } finally {
      rl.close();
      process.stderr.write("\n");
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > MAX_INPUT_BYTES) break;
  }
  return Buffer.concat(chunks).toString("utf8");
}

function smtpPassword(deps: SmtpPasswordDeps): Command {
  return {
    name: "smtp-password",
    summary: "Print the SES SMTP password of an IAM secret access key read from standard input",
    usage: "ses-mail smtp-password (--region REGION | --stack NAME) [--json] < secret-key-file",
    options: {
      region: {
        type: "string",
        value: "REGION",
        description: "the SES region whose SMTP endpoint the password is for (a password works only there)",
        defaultsTo: "the region of --stack",
      },
      ...JSON_OPTION,
      ...STACK_OPTIONS,
    },
    positionals: [0, 0],
    examples: ["ses-mail smtp-password --region eu-west-2 < secret-key.txt"],
    async run(context) {
      const { out, values } = context;
      let region = values.region as string | undefined;
      if (!region && values.stack) region = resolveStack(context).region;
      if (!region)
        throw new UserError(
          "say which region the password is for: --region REGION (an SMTP password works only at that region's endpoint), or --stack NAME",
        );
      if (!SES_SMTP_REGIONS.includes(region)) {
        const suggestion = closestMatch(region, SES_SMTP_REGIONS);
        throw new UserError(
          `--region: SES has no SMTP endpoint in ${JSON.stringify(region)}${suggestion ? `; did you mean ${suggestion}?` : ""} ` +
            `(a password works only at its region's endpoint; regions with one: ${SES_SMTP_REGIONS.join(", ")})`,
        );
      }

      const input = await deps.readSecret("IAM secret access key (not shown): ");
      const secret = input.replace(/\r?\n$/, "").trim();
      if (secret === "")
        throw new UserError(
          "no secret access key on standard input: pipe it in (ses-mail smtp-password --region R < key.txt) or type it when asked",
        );
      if (input.length > MAX_INPUT_BYTES || /\s/.test(secret))
        throw new UserError("standard input holds more than one secret access key: give just the key, on one line");
      if (ACCESS_KEY_ID.test(secret))
        throw new UserError("that is an access key ID (the SMTP username), not the secret access key: give the secret key");
      if (secret.length !== SECRET_KEY_LENGTH)
        out.note(
          `warning: IAM secret access keys are ${SECRET_KEY_LENGTH} characters; this one has ${secret.length}. Check it was copied whole`,
        );

      const password = smtpPasswordFromSecretKey(secret, region);
      if (values.json) {
        out.json({ region, host: smtpHost(region), password });
        return;
      }
      out.line(password);
      out.note(
        `SMTP password for ${smtpHost(region)} (ports 587 STARTTLS, 465 TLS); the SMTP username is the key's access key ID. The IAM user needs ses:SendRawEmail.`,
      );
    },
  };
}

export function smtpPasswordCommands(overrides: Partial<SmtpPasswordDeps> = {}): Command[] {
  return [smtpPassword({ readSecret: readStdin, ...overrides })];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const SMTP_PASSWORD_COMMANDS: readonly Command[] = smtpPasswordCommands();
