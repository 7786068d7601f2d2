/**
 * `ses-mail smtp-user create|list|rotate|rm`: SMTP users that may send through SES only as the
 * addresses they are allowed. The CLI writes the routing-table item; the SMTP credential manager
 * (DynamoDB stream) creates the IAM user, its restricted policy and access key, and stores the SMTP
 * password encrypted with the stack's KMS key. The CLI waits for it, decrypts, and prints the
 * credentials once.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { DecryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { SmtpUserAdmin } from "../adapters/aws/smtp-user-admin";
import type { StoredItem } from "../core/ports";
import {
  smtpCredentialsEncryptionContext,
  smtpUserItemSchema,
  SmtpUserStatus,
  validateAllowedFrom,
  validateSmtpUsername,
} from "../core/smtp-credentials";
import { formatTable, UserError, type Command, type CommandContext, type Output, JSON_OPTION } from "./framework";
import { aws, awsErrorName, resolveStack, STACK_OPTIONS, STACK_USAGE, type StackTarget } from "./stack-target";

/**
 * How long to wait for the credential manager. It normally finishes within seconds of the write (the
 * stream delivers within a second; IAM and KMS take a few); two minutes leaves room for a cold start
 * and the stream's retries without leaving the person staring at a dead command.
 */
export const PROVISIONING_TIMEOUT_MS = 2 * 60 * 1000;
export const PROVISIONING_POLL_MS = 2000;
/** A progress line every this many looks, so a slow wait is visibly alive without flooding stderr. */
const NOTE_EVERY_POLLS = 5;
/** Ports of SES's SMTP interface: STARTTLS on 587 (also 25, 2587), implicit TLS on 465 (also 2465). */
export const SMTP_PORTS = { starttls: 587, tls: 465 } as const;

export interface SmtpUserDeps {
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly timeoutMs: number;
  readonly pollMs: number;
}

export const DEFAULT_SMTP_USER_DEPS: SmtpUserDeps = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  timeoutMs: PROVISIONING_TIMEOUT_MS,
  pollMs: PROVISIONING_POLL_MS,
};

export function smtpHost(region: string): string {
  return `email-smtp.${region}.amazonaws.com`;
}

interface Session {
  readonly target: StackTarget;
  readonly admin: SmtpUserAdmin;
  close(): void;
}

function open(context: CommandContext): Session {
  const target = resolveStack(context);
  const client = new DynamoDBClient(target.clientConfig("DYNAMODB"));
  return { target, admin: new SmtpUserAdmin({ tableName: target.names.table, client }), close: () => client.destroy() };
}

function usernameArgument(context: CommandContext): string {
  return validateSmtpUsername(context.positionals[0]!);
}

function allowFrom(context: CommandContext, required: boolean): string[] | undefined {
  const given = context.values["allow-from"] as string[] | undefined;
  if (!given || given.length === 0) {
    if (required) throw new UserError("say which From addresses the user may send as: --allow-from ADDRESS (or *@domain), repeatable");
    return undefined;
  }
  return validateAllowedFrom(given.flatMap((entry) => entry.split(",")).filter((entry) => entry.trim() !== ""));
}

/** Warns about From addresses in domains the stack has not verified with SES: SES refuses to send as them. */
function warnUnverified(out: Output, target: StackTarget, allowed: readonly string[]): void {
  const domains = new Set(target.config.domains);
  const outside = allowed.filter((entry) => !domains.has(entry.slice(entry.lastIndexOf("@") + 1).toLowerCase()));
  if (outside.length > 0) {
    out.note(
      `warning: ${outside.join(", ")} ${outside.length === 1 ? "is" : "are"} not in a domain of stack ${target.env} (${target.config.domains.join(", ")}); SES sends only as verified identities`,
    );
  }
}

/** Waits until the manager has acted: active with a key other than `previousKeyId`, or failed. */
async function waitForManager(
  session: Session,
  username: string,
  previousKeyId: string | undefined,
  out: Output,
  deps: SmtpUserDeps,
): Promise<StoredItem> {
  const { target, admin } = session;
  const started = deps.now().getTime();
  out.note(`waiting for the credential manager to provision ${username} (up to ${Math.round(deps.timeoutMs / 1000)} s) …`);
  for (let polls = 1; ; polls++) {
    const item = await aws(target, `the routing table ${target.names.table}`, () => admin.get(username));
    if (!item) throw new UserError(`${username} was deleted while waiting for it`);
    if (item.status === SmtpUserStatus.Failed) {
      throw new UserError(
        `the credential manager could not provision ${username}: ${String(item.error ?? "no reason recorded")}. Fix the cause, then retry with \`ses-mail smtp-user rotate ${username} --stack ${target.env}\` (or remove it with smtp-user rm)`,
      );
    }
    if (item.status === SmtpUserStatus.Active && item.access_key_id !== previousKeyId && typeof item.encrypted_credentials === "string")
      return item;
    const waited = deps.now().getTime() - started;
    if (waited >= deps.timeoutMs) {
      throw new UserError(
        `the credential manager has not provisioned ${username} after ${Math.round(waited / 1000)} s; the item stays pending and is provisioned when the manager runs. ` +
          `Check \`ses-mail status --stack ${target.env}\` (credential-manager DLQ, alarms) and the log group ${target.names.functionLogGroup("credential-manager")}; ` +
          `once \`ses-mail smtp-user list\` shows it active, get its credentials with \`ses-mail smtp-user rotate ${username}\``,
      );
    }
    if (polls % NOTE_EVERY_POLLS === 0) out.note(`  still ${String(item.status)} after ${Math.round(waited / 1000)} s`);
    await deps.sleep(deps.pollMs);
  }
}

interface Credentials {
  readonly accessKeyId: string;
  readonly smtpPassword: string;
}

async function decrypt(target: StackTarget, username: string, ciphertext: string): Promise<Credentials> {
  const kms = new KMSClient(target.clientConfig("KMS"));
  try {
    let output;
    try {
      output = await kms.send(
        new DecryptCommand({
          CiphertextBlob: Buffer.from(ciphertext, "base64"),
          EncryptionContext: smtpCredentialsEncryptionContext(username),
        }),
      );
    } catch (error) {
      if (/AccessDenied/.test(awsErrorName(error) ?? "")) {
        throw new UserError(
          `your AWS identity may not decrypt with the SMTP credentials key (${target.names.credentialKeyAlias}): grant it kms:Decrypt on that key (docs/OPERATIONS.md, "SMTP users"), then get fresh credentials with \`ses-mail smtp-user rotate ${username} --stack ${target.env}\``,
          { cause: error },
        );
      }
      return aws(target, `the SMTP credentials key ${target.names.credentialKeyAlias}`, () => Promise.reject(error));
    }
    const json = JSON.parse(Buffer.from(output.Plaintext ?? new Uint8Array()).toString("utf8")) as {
      access_key_id?: unknown;
      smtp_password?: unknown;
    };
    if (typeof json.access_key_id !== "string" || typeof json.smtp_password !== "string") {
      throw new UserError(
        `the stored credentials of ${username} are not in the expected form; rotate them: ses-mail smtp-user rotate ${username}`,
      );
    }
    return { accessKeyId: json.access_key_id, smtpPassword: json.smtp_password };
  } finally {
    kms.destroy();
  }
}

function printCredentials(context: CommandContext, target: StackTarget, item: StoredItem, credentials: Credentials, verb: string): void {
  const username = String(item.username);
  const allowed = (item.allowed_from as string[] | Set<string> | undefined) ?? [];
  const allowedFrom = [...allowed];
  if (context.values.json) {
    context.out.json({
      username,
      status: item.status,
      iamUser: item.iam_user_name ?? null,
      smtp: { host: smtpHost(target.region), ports: SMTP_PORTS, username: credentials.accessKeyId, password: credentials.smtpPassword },
      allowedFrom,
    });
    return;
  }
  const rows = [
    ["host", smtpHost(target.region)],
    ["port", `${SMTP_PORTS.starttls} (STARTTLS) or ${SMTP_PORTS.tls} (TLS)`],
    ["username", credentials.accessKeyId],
    ["password", credentials.smtpPassword],
    ["may send as", allowedFrom.join(", ")],
  ];
  context.out.line(`SMTP user ${username} ${verb} (IAM user ${String(item.iam_user_name ?? "?")}, ${target.description}):`);
  for (const line of formatTable(rows)) context.out.line(`  ${line}`);
  context.out.line(
    "These credentials are shown only now: store them in your application's secret store. To replace them: ses-mail smtp-user rotate " +
      username,
  );
}

const ALLOW_FROM_OPTION = {
  type: "string",
  multiple: true,
  value: "ADDRESS|*@DOMAIN",
  description: "an address (or every address of a domain) the user may send as",
} as const;
const USERNAME_ARGUMENT = ["<username>", "a name for the application that sends (letters, digits, . _ -)"] as const;

function create(deps: SmtpUserDeps): Command {
  return {
    name: "smtp-user create",
    summary: "Create an SMTP user that may send only as the given addresses; prints its SMTP credentials once",
    usage: `ses-mail smtp-user create <username> --allow-from ADDRESS|*@DOMAIN... [--json] ${STACK_USAGE}`,
    options: { "allow-from": ALLOW_FROM_OPTION, ...JSON_OPTION, ...STACK_OPTIONS },
    positionals: [1, 1],
    arguments: [USERNAME_ARGUMENT],
    examples: [
      "ses-mail smtp-user create app --allow-from app@example.com --stack prod",
      "ses-mail smtp-user create shop --allow-from '*@shop.example.com' --stack prod",
    ],
    async run(context) {
      const username = usernameArgument(context);
      const allowed = allowFrom(context, true)!;
      const session = open(context);
      try {
        const { target, admin } = session;
        warnUnverified(context.out, target, allowed);
        const created = await aws(target, `the routing table ${target.names.table}`, () =>
          admin.create({ username, allowedFrom: allowed, at: deps.now().toISOString() }),
        );
        if (!created)
          throw new UserError(
            `an SMTP user ${username} already exists: rotate its credentials with \`ses-mail smtp-user rotate ${username}\`, or remove it first`,
          );
        const item = await waitForManager(session, username, undefined, context.out, deps);
        printCredentials(context, target, item, await decrypt(target, username, String(item.encrypted_credentials)), "is ready");
      } finally {
        session.close();
      }
    },
  };
}

function rotate(deps: SmtpUserDeps): Command {
  return {
    name: "smtp-user rotate",
    summary: "Replace an SMTP user's access key (or retry a failed one); prints the new credentials once",
    usage: `ses-mail smtp-user rotate <username> [--allow-from ADDRESS|*@DOMAIN...] [--json] ${STACK_USAGE}`,
    options: {
      "allow-from": { ...ALLOW_FROM_OPTION, description: "replace the addresses it may send as", defaultsTo: "the ones it has" },
      ...JSON_OPTION,
      ...STACK_OPTIONS,
    },
    positionals: [1, 1],
    arguments: [USERNAME_ARGUMENT],
    examples: ["ses-mail smtp-user rotate app --stack prod"],
    async run(context) {
      const username = usernameArgument(context);
      const allowed = allowFrom(context, false);
      const session = open(context);
      try {
        const { target, admin } = session;
        const before = await aws(target, `the routing table ${target.names.table}`, () => admin.get(username));
        if (!before) throw new UserError(`no SMTP user ${username} in ${target.description} (see ses-mail smtp-user list)`);
        if (before.status === SmtpUserStatus.Pending) {
          throw new UserError(
            `${username} is pending already: the credential manager has not finished it. Wait, and check \`ses-mail status --stack ${target.env}\` if it stays pending`,
          );
        }
        if (allowed) warnUnverified(context.out, target, allowed);
        const previousKeyId = typeof before.access_key_id === "string" ? before.access_key_id : undefined;
        const requested = await aws(target, `the routing table ${target.names.table}`, () =>
          admin.requestProvisioning(username, deps.now().toISOString(), allowed),
        );
        if (!requested)
          throw new UserError(
            `${username} changed while rotating (removed, or set pending by someone else); look with ses-mail smtp-user list`,
          );
        const item = await waitForManager(session, username, previousKeyId, context.out, deps);
        printCredentials(
          context,
          target,
          item,
          await decrypt(target, username, String(item.encrypted_credentials)),
          previousKeyId ? "has a new key; the old one is deleted" : "is ready",
        );
      } finally {
        session.close();
      }
    },
  };
}

function list(): Command {
  return {
    name: "smtp-user list",
    summary: "List SMTP users, their status and the addresses they may send as",
    usage: `ses-mail smtp-user list [--json] ${STACK_USAGE}`,
    options: { ...JSON_OPTION, ...STACK_OPTIONS },
    positionals: [0, 0],
    examples: ["ses-mail smtp-user list --stack prod"],
    async run(context) {
      const session = open(context);
      try {
        const { target, admin } = session;
        const schema = smtpUserItemSchema();
        const items = await aws(target, `the routing table ${target.names.table}`, () => admin.list());
        const users = items.map((item) => {
          const parsed = schema.safeParse(item);
          return {
            username: parsed.success ? parsed.data.username : String(item.PK),
            status: parsed.success ? parsed.data.status : "invalid",
            allowedFrom: parsed.success ? [...parsed.data.allowedFrom] : [],
            iamUser: parsed.success ? (parsed.data.iamUserName ?? null) : null,
            accessKeyId: parsed.success ? (parsed.data.accessKeyId ?? null) : null,
            updatedAt: typeof item.updated_at === "string" ? item.updated_at : null,
            ...(typeof item.error === "string"
              ? { error: item.error }
              : parsed.success
                ? {}
                : { error: parsed.error.issues[0]?.message ?? "invalid item" }),
          };
        });
        if (context.values.json) {
          context.out.json(users);
          return;
        }
        if (users.length === 0) {
          context.out.line(
            `no SMTP users in ${target.description}; create one with ses-mail smtp-user create NAME --allow-from ADDRESS --stack ${target.env}`,
          );
          return;
        }
        const rows = users.map((user) => [
          user.username,
          user.status,
          user.allowedFrom.join(", "),
          user.accessKeyId ?? "",
          user.updatedAt ?? "",
          user.error ?? "",
        ]);
        for (const line of formatTable([["USERNAME", "STATUS", "MAY SEND AS", "ACCESS KEY", "UPDATED", "ERROR"], ...rows]))
          context.out.line(line);
      } finally {
        session.close();
      }
    },
  };
}

function remove(deps: SmtpUserDeps): Command {
  return {
    name: "smtp-user rm",
    summary: "Remove an SMTP user: the credential manager deletes its IAM user and keys",
    usage: `ses-mail smtp-user rm <username> ${STACK_USAGE}`,
    options: { ...STACK_OPTIONS },
    positionals: [1, 1],
    arguments: [USERNAME_ARGUMENT],
    examples: ["ses-mail smtp-user rm app --stack prod"],
    async run(context) {
      const username = usernameArgument(context);
      const session = open(context);
      try {
        const { target, admin } = session;
        const old = await aws(target, `the routing table ${target.names.table}`, () => admin.delete(username));
        if (!old) throw new UserError(`no SMTP user ${username} in ${target.description} (see ses-mail smtp-user list)`);
        const iamUser = typeof old.iam_user_name === "string" ? old.iam_user_name : undefined;
        if (!iamUser) {
          context.out.line(`removed ${username}; it had no IAM user (it was ${String(old.status)})`);
          return;
        }
        context.out.note(`removed ${username}; waiting for the credential manager to delete IAM user ${iamUser} …`);
        const iam = new IAMClient(target.clientConfig("IAM"));
        try {
          const started = deps.now().getTime();
          for (;;) {
            try {
              await iam.send(new GetUserCommand({ UserName: iamUser }));
            } catch (error) {
              const name = awsErrorName(error) ?? "";
              if (/NoSuchEntity/.test(name)) break;
              if (/AccessDenied/.test(name)) {
                context.out.line(
                  `removed ${username}; the credential manager deletes IAM user ${iamUser} (you may not read IAM users, so this was not checked)`,
                );
                return;
              }
              return aws(target, `IAM user ${iamUser}`, () => Promise.reject(error));
            }
            if (deps.now().getTime() - started >= deps.timeoutMs) {
              throw new UserError(
                `IAM user ${iamUser} still exists ${Math.round(deps.timeoutMs / 1000)} s after ${username} was removed; its keys may still work. Check \`ses-mail status --stack ${target.env}\` (credential-manager DLQ) and delete the user in the IAM console if it stays`,
              );
            }
            await deps.sleep(deps.pollMs);
          }
        } finally {
          iam.destroy();
        }
        context.out.line(`removed ${username} and its IAM user ${iamUser}; its SMTP credentials no longer work`);
      } finally {
        session.close();
      }
    },
  };
}

export function smtpUserCommands(overrides: Partial<SmtpUserDeps> = {}): Command[] {
  const deps: SmtpUserDeps = { ...DEFAULT_SMTP_USER_DEPS, ...overrides };
  return [create(deps), list(), rotate(deps), remove(deps)];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const SMTP_USER_COMMANDS: readonly Command[] = smtpUserCommands();
