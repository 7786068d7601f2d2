/**
 * `ses-mail local`: runs the whole pipeline on this machine (local/mode.ts) until Ctrl-C.
 * Heavy imports (smtp-server, mailauth, dynalite) load inside `run`, so other commands start quickly.
 */
import { loadStackConfig, loadStackConfigFile } from "../config/load";
import type { StackConfig } from "../config/schema";
import { errorMessage } from "../core/errors";
import { dataDirOption, DEFAULT_DATA_DIR } from "../local/data-dir";
import { DEFAULT_DYNAMODB_PORT, DEFAULT_HOST, DEFAULT_SMTP_PORT } from "../local/instance";
import { UserError, type Command, type CommandContext } from "./framework";
import { LOCAL_DEFAULT_STACK } from "./target";

const USAGE =
  "ses-mail local [--stack NAME | --config FILE] [--data-dir DIR] [--smtp-port N] [--dynamodb-port N] [--listen ADDR] " +
  "[--resolver FILE] [--smarthost HOST:PORT] [--gmail-secrets FILE]";

function portOption(context: CommandContext, name: string, fallback: number): number {
  const text = context.values[name] as string | undefined;
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535)
    throw new UserError(`--${name} must be a port number (0 to 65535, 0 picks a free one), got ${JSON.stringify(text)}`);
  return port;
}

function configOf(context: CommandContext): { config: StackConfig; source: { stack: string } | { configFile: string } } {
  const stack = context.values.stack as string | undefined;
  const file = context.values.config as string | undefined;
  if (stack && file) throw new UserError("give --stack or --config, not both");
  if (file) return { config: loadStackConfigFile(file), source: { configFile: file } };
  const name = stack ?? LOCAL_DEFAULT_STACK;
  return { config: loadStackConfig(name), source: { stack: name } };
}

/** A shell word: as is when safe, else single-quoted. */
function shellWord(text: string): string {
  return /^[\w./@+:-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * What to run next, as commands that work as printed: a test message with curl (installed nearly
 * everywhere, unlike swaks), then where to see what happened to it.
 */
export function readyLines(args: { smtpHost: string; smtpPort: number; domain: string; dataDirArgs: string }): string[] {
  // A wildcard listen address is reached through the loopback.
  const host = args.smtpHost === "0.0.0.0" || args.smtpHost === "::" ? "127.0.0.1" : args.smtpHost;
  const server = host.includes(":") ? `[${host}]` : host;
  const recipient = `hello@${args.domain}`;
  return [
    "Ready. Send a test message (Ctrl-C stops):",
    `  printf 'Subject: hi\\r\\n\\r\\nIt works.\\r\\n' | curl -sS smtp://${server}:${args.smtpPort} --mail-from alice@sender.example --mail-rcpt ${shellWord(recipient)} -T -`,
    "and see what happened to it:",
    `  npx ses-mail trace --recipient ${shellWord(recipient)} ${args.dataDirArgs}`,
  ];
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function untilStopped(note: (text: string) => void): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      note(`\n${signal}: stopping (again to quit at once)…`);
      const force = () => process.exit(130);
      process.once("SIGINT", force);
      process.once("SIGTERM", force);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

const local: Command = {
  name: "local",
  summary: "Run the whole pipeline on this machine: SMTP in, Maildirs out, rules in an embedded DynamoDB",
  usage: USAGE,
  options: {
    stack: {
      type: "string",
      value: "NAME",
      description: "run with Pulumi.NAME.yaml: domains, declared routes, default action, verdict policy",
      defaultsTo: LOCAL_DEFAULT_STACK,
    },
    config: {
      type: "string",
      value: "FILE",
      description: "run with this stack-config file instead (a configuration you have not deployed)",
    },
    "data-dir": {
      type: "string",
      value: "DIR",
      description: "where everything is kept: mail, queues, the rules' store",
      defaultsTo: DEFAULT_DATA_DIR,
    },
    "smtp-port": { type: "string", value: "N", description: "the SMTP port; 0 picks a free one", defaultsTo: String(DEFAULT_SMTP_PORT) },
    "dynamodb-port": {
      type: "string",
      value: "N",
      description: "the port of the DynamoDB endpoint holding the rules; 0 picks a free one",
      defaultsTo: String(DEFAULT_DYNAMODB_PORT),
    },
    listen: { type: "string", value: "ADDR", description: "the address both listen on", defaultsTo: DEFAULT_HOST },
    resolver: {
      type: "string",
      value: "FILE",
      description: "hermetic DNS for SPF/DKIM/DMARC: a JSON zone ({ name: { RRTYPE: [records] } })",
      defaultsTo: "the system resolver",
    },
    smarthost: {
      type: "string",
      value: "HOST:PORT",
      description: "relay bounces through this SMTP server",
      defaultsTo: "write them to DATA_DIR/outbox/",
    },
    "gmail-secrets": {
      type: "string",
      value: "FILE",
      description: "deliver to real Gmail: a JSON object of the stack's SSM parameter names to their values",
      defaultsTo: "Maildirs under DATA_DIR/mail/",
    },
  },
  positionals: [0, 0],
  examples: ["ses-mail local --stack test", "ses-mail local --data-dir /tmp/ses-mail-try --smtp-port 0 --dynamodb-port 0"],
  async run(context) {
    const { config, source } = configOf(context);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use: smtp-server, mailauth and dynalite are heavy
    const { startLocalMode } = require("../local/mode") as typeof import("../local/mode");
    const host = (context.values.listen as string | undefined) ?? DEFAULT_HOST;
    let mode;
    try {
      mode = await startLocalMode({
        config,
        configSource: source,
        dataDir: (context.values["data-dir"] as string | undefined) ?? DEFAULT_DATA_DIR,
        smtpHost: host,
        smtpPort: portOption(context, "smtp-port", DEFAULT_SMTP_PORT),
        dynamodbHost: host,
        dynamodbPort: portOption(context, "dynamodb-port", DEFAULT_DYNAMODB_PORT),
        ...(context.values.resolver ? { resolverFile: context.values.resolver as string } : {}),
        ...(context.values.smarthost ? { smarthost: context.values.smarthost as string } : {}),
        ...(context.values["gmail-secrets"] ? { gmailSecretsFile: context.values["gmail-secrets"] as string } : {}),
        // The forwarder Lambda's own variables for other Google endpoints (a proxy).
        ...(context.env.GMAIL_API_URL ? { gmailApiUrl: context.env.GMAIL_API_URL } : {}),
        ...(context.env.GOOGLE_OAUTH_TOKEN_URL ? { oauthTokenUrl: context.env.GOOGLE_OAUTH_TOKEN_URL } : {}),
        output: (line) => context.out.line(line),
      });
    } catch (error) {
      if (error instanceof UserError) throw error;
      const name = error instanceof Error ? error.name : "";
      if (
        ["LocalStartError", "ResolverFileError", "SyntaxError"].includes(name) ||
        (error instanceof Error && /--smarthost/.test(error.message))
      ) {
        throw new UserError(errorMessage(error), { cause: error });
      }
      throw error;
    }
    // Listen for Ctrl-C before saying so: a SIGINT right after "Ready" must stop cleanly too.
    const stopped = untilStopped((text) => context.out.note(text));
    for (const line of readyLines({
      smtpHost: mode.smtpHost,
      smtpPort: mode.smtpPort,
      domain: config.domains[0]!,
      dataDirArgs: dataDirOption(mode.dataDir),
    }))
      context.out.line(line);
    await stopped;
    await mode.close();
    context.out.note("stopped; anything still queued stays in the data directory and resumes on the next start");
  },
};

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const LOCAL_COMMANDS: readonly Command[] = [local];
