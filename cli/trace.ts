/**
 * `ses-mail trace MESSAGE_ID` and `ses-mail trace --recipient ADDRESS [--since 24h]`: what happened to a
 * message and where it is now: the routing decision (rule and level matched per recipient, verdicts),
 * every outcome with its time, and its places (a mailbox, a Maildir file, the outbox, the retry queue, a
 * dead-letter queue with the command that redrives it, the raw message kept or deleted). `--json` gives
 * the MessageFate (core/fate.ts) itself, for scripts.
 *
 * One renderer for any FateReader; `fateReaderFor` is the one place that picks the reader for where the
 * command looks: a deployed stack (`--stack`, adapters/aws/fate-reader.ts) or local mode's data
 * directory (`--local`, local/fate.ts).
 */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createStackFateReader } from "../adapters/aws/fate-reader";
import { parseAddress } from "../core/addresses";
import type { DecisionDetail } from "../core/decision";
import { errorMessage } from "../core/errors";
import type { FatePlace, FateReader, MessageFate } from "../core/fate";
import type { Outcome, OutcomeError } from "../core/outcomes";
import { ACTION_TYPES } from "../core/rules";
import { dataDirOption } from "../local/data-dir";
import { createLocalFateReader } from "../local/fate";
import { formatTable, UserError, type Command, type CommandContext, JSON_OPTION } from "./framework";
import { resolveStack, STACK_OPTIONS, STACK_USAGE } from "./stack-target";
import { LOCAL_DATA_OPTIONS, LOCAL_DATA_USAGE, localDataDir } from "./target";

/** `--since` when not given: a day, enough to find what someone says did not arrive today. */
export const DEFAULT_SINCE = "24h";
const DURATION_UNITS = { m: 60, h: 3600, d: 86_400 } as const;

export interface TraceDeps {
  readonly now: () => Date;
}

export interface TraceTarget {
  readonly reader: FateReader;
  /** In words, for messages: `local mode data in /path/.ses-mail`. */
  readonly description: string;
  /** How the command's own options name this target, for the commands it suggests. */
  readonly option: string;
}

/** The reader for where the command looks: a deployed stack, or local mode's data directory. */
export function fateReaderFor(context: CommandContext): TraceTarget {
  const local = context.values.local === true || context.values["data-dir"] !== undefined;
  if (local && context.values.stack !== undefined) throw new UserError("--stack and --local look in different places: give one");
  const dataDir = localDataDir(context);
  if (dataDir) {
    return { reader: createLocalFateReader(dataDir), description: `local mode data in ${dataDir}`, option: dataDirOption(dataDir) };
  }
  if (context.values.stack !== undefined) {
    const stack = resolveStack(context);
    const reader = createStackFateReader(stack, {
      dynamodb: new DynamoDBClient(stack.clientConfig("DYNAMODB")),
      s3: new S3Client(stack.clientConfig("S3")),
      sqs: new SQSClient(stack.clientConfig("SQS")),
      logs: new CloudWatchLogsClient(stack.clientConfig("CLOUDWATCH_LOGS")),
    });
    const config = context.values.config === undefined ? "" : ` --config ${String(context.values.config)}`;
    return { reader, description: stack.description, option: `--stack ${stack.env}${config}` };
  }
  throw new UserError(`say where to look: ${STACK_USAGE}, or ${LOCAL_DATA_USAGE}`);
}

/** `30m`, `24h`, `7d`, or an ISO 8601 time: the start of the window. */
export function parseSince(text: string, now: Date): Date {
  const match = /^(\d+)([mhd])$/.exec(text.trim());
  if (match) return new Date(now.getTime() - Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS] * 1000);
  const time = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) throw new UserError(`--since takes a duration (30m, 24h, 7d) or an ISO 8601 time, not ${JSON.stringify(text)}`);
  return new Date(time);
}

function errorText(error: OutcomeError): string {
  return `${error.code}: ${error.message}`;
}

function matchText(target: DecisionDetail["actions"]["bounce"]["targets"][number]): string {
  switch (target.match) {
    case "default":
      return "no rule: the default action";
    case "policy":
      return `verdict policy${target.reason ? `: ${target.reason}` : ""}`;
    default:
      return `rule ${target.rule ?? "?"} (${target.match})`;
  }
}

function decisionLines(decision: DecisionDetail): string[] {
  const v = decision.verdicts;
  const lines = [
    `  from      ${decision.source || "<> (null sender)"}`,
    `  subject   ${JSON.stringify(decision.subject)}`,
    `  received  ${decision.timestamp}`,
    `  verdicts  spf ${v.spf}, dkim ${v.dkim}, dmarc ${v.dmarc}${v.dmarcPolicy ? ` (p=${v.dmarcPolicy})` : ""}, spam ${v.spam}, virus ${v.virus}: ${v.disposition}${v.reasons.length > 0 ? ` (${v.reasons.join(", ")})` : ""}`,
    "",
    "decision",
  ];
  const rows: string[][] = [];
  for (const type of ACTION_TYPES) {
    for (const target of decision.actions[type].targets) {
      const action = [type, target.target, target.labels && target.labels.length > 0 ? `(${target.labels.join(", ")})` : undefined]
        .filter(Boolean)
        .join(" ");
      rows.push([`  ${target.recipient}`, action, matchText(target)]);
    }
  }
  return [...lines, ...formatTable(rows)];
}

/** One outcome in words, for the "what happened" list. */
export function describeFateOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case "routed":
      return `routed${outcome.decision ? ` (${outcome.decision.verdicts.disposition})` : ""}`;
    case "setup-notification":
      return "SES setup notification acknowledged: not mail";
    case "imported":
      return (
        `imported into ${outcome.account} as ${outcome.mailboxId} (${outcome.labels.join(", ") || "no labels"})${outcome.origin === "retry" ? ", from the retry queue" : ""}` +
        (outcome.unappliedLabels ?? []).map((entry) => `; without the label ${entry.label}: ${entry.reason}`).join("")
      );
    case "already-imported":
      return `already in ${outcome.account} as ${outcome.mailboxId} (imported ${outcome.importedAt}): not imported again`;
    case "possible-duplicate":
      return `${outcome.account} may hold it twice: ${outcome.reason}`;
    case "parked":
      return `${outcome.account} needs an operator: parked in the retry queue (attempt ${outcome.attempt}, since ${outcome.parkedSince}): ${errorText(outcome.reason)}`;
    case "given-up":
      return `${outcome.account} still needs an operator after waiting since ${outcome.parkedSince} (${outcome.attempt} attempts): given up: ${errorText(outcome.reason)}`;
    case "import-failed":
      return `import into ${outcome.account} failed: ${errorText(outcome.error)}`;
    case "bounce-sent":
      return `bounce sent to ${outcome.to} from ${outcome.from} for ${outcome.recipients.map((recipient) => `${recipient.address} (${recipient.status})`).join(", ")}, as ${outcome.dsnMessageId}`;
    case "bounce-suppressed":
      return `no bounce for ${outcome.recipient}: ${outcome.reason}`;
    case "bounce-failed":
      return `bounce for ${outcome.recipients.join(", ")} not sent: ${errorText(outcome.error)}`;
    case "stored":
      return `raw message kept for ${outcome.recipients.join(", ")} (store)`;
    case "dropped":
      return `dropped for ${outcome.recipients.join(", ")} by ${outcome.by === "policy" ? "the verdict policy" : "rule"}${outcome.reason ? `: ${outcome.reason}` : ""}`;
    case "dead-lettered":
      return `dead-lettered in ${outcome.queue} after ${outcome.attempts} attempt(s): ${errorText(outcome.error)}`;
    case "raw-message-deleted":
      return "raw message deleted: every consumer was done";
    case "routing-failed":
      return `routing failed: ${errorText(outcome.error)}`;
    case "invalid-record":
      return `the ${outcome.stage} could not read queue message ${outcome.sqsMessageId}: ${errorText(outcome.error)}`;
  }
}

function placeLines(place: FatePlace): string[] {
  switch (place.kind) {
    case "mailbox":
      return [`  in ${place.account}: ${place.file ?? `${place.mailboxId} (${place.labels.join(", ")})`}`];
    case "parked":
      return [`  parked for ${place.account} since ${place.since} (attempt ${place.attempt}): ${errorText(place.reason)}`];
    case "dead-letter":
      return [`  dead letter in ${place.queue}: ${errorText(place.error)}`, `    send it back with: ${place.redrive}`];
    case "bounce":
      return [`  bounce to ${place.to} for ${place.recipients.join(", ")}${place.file ? `: ${place.file}` : ""}`];
    case "raw-message":
      return [`  raw message ${place.location.key}: ${place.state}${place.keptUntil ? ` (kept until ${place.keptUntil})` : ""}`];
  }
}

export function renderFate(fate: MessageFate): string[] {
  const lines = [`message ${fate.messageId}`];
  if (fate.decision) lines.push(...decisionLines(fate.decision));
  lines.push("", "what happened");
  if (fate.outcomes.length === 0) lines.push("  nothing on record");
  for (const line of formatTable(fate.outcomes.map((outcome) => [`  ${outcome.at}`, describeFateOutcome(outcome)]))) lines.push(line);
  lines.push("", "where it is now");
  for (const place of fate.places) lines.push(...placeLines(place));
  if (fate.gaps.length > 0) {
    lines.push("", "not known");
    for (const gap of fate.gaps) lines.push(`  ${gap}`);
  }
  return lines;
}

/** Where a message is, in a few words, for the one line per message of `--recipient`. */
export function fateSummary(fate: MessageFate): string {
  const phrases = fate.places.flatMap((place): string[] => {
    switch (place.kind) {
      case "mailbox":
        return [`in ${place.account}`];
      case "parked":
        return [`parked for ${place.account}`];
      case "dead-letter":
        return [`dead letter in ${place.queue}`];
      case "bounce":
        return [`bounced to ${place.to}`];
      case "raw-message":
        return [];
    }
  });
  for (const outcome of fate.outcomes) {
    if (outcome.kind === "dropped") phrases.push("dropped");
    if (outcome.kind === "stored") phrases.push("stored");
    if (outcome.kind === "bounce-suppressed") phrases.push(`no bounce (${outcome.reason})`);
  }
  const unique = [...new Set(phrases)];
  if (unique.length > 0) return unique.join(", ");
  const raw = fate.places.find((place) => place.kind === "raw-message");
  return raw?.kind === "raw-message" && raw.state === "kept" ? "accepted, not yet delivered" : "nowhere on record";
}

function traceCommand(deps: TraceDeps): Command {
  return {
    name: "trace",
    summary: "What happened to a message and where it is now: its decision, each outcome with its time, its mailbox, bounce or dead letter",
    usage: `ses-mail trace (MESSAGE_ID | --recipient ADDRESS [--since ${DEFAULT_SINCE}]) [--json] (${STACK_USAGE} | ${LOCAL_DATA_USAGE})`,
    options: {
      recipient: {
        type: "string",
        value: "ADDRESS",
        description: "instead of a message id: the messages sent to this address, newest first",
      },
      since: {
        type: "string",
        value: "AGE|TIME",
        description: "with --recipient: how far back to look (30m, 24h, 7d, or an ISO 8601 time)",
        defaultsTo: DEFAULT_SINCE,
      },
      ...JSON_OPTION,
      ...STACK_OPTIONS,
      ...LOCAL_DATA_OPTIONS,
    },
    positionals: [0, 1],
    arguments: [["MESSAGE_ID", "the SES message id: in the 250 reply, local mode's console line, or a dead letter"]],
    examples: [
      "ses-mail trace 00mx59hqmwr6mtc5p6g0125meqdwo22hfr568iea --local",
      "ses-mail trace --recipient you@example.com --since 24h --stack prod",
    ],
    async run(context) {
      const { out, values, positionals } = context;
      const recipient = values.recipient as string | undefined;
      const [messageId] = positionals;
      if ((messageId === undefined) === (recipient === undefined))
        throw new UserError(`give a message id or --recipient ADDRESS (one of them)\nusage: ${this.usage}`);
      if (values.since !== undefined && recipient === undefined) throw new UserError("--since goes with --recipient");
      const target = fateReaderFor(context);

      if (messageId !== undefined) {
        const fate = await target.reader.byMessageId(messageId);
        if (!fate)
          throw new UserError(
            `no message ${messageId} in ${target.description} (the id is the one in the SMTP 250 reply and the console line)`,
          );
        if (values.json) out.json(fate);
        else for (const line of renderFate(fate)) out.line(line);
        return;
      }

      let address: string;
      try {
        address = parseAddress(recipient!).address;
      } catch (error) {
        throw new UserError(`--recipient: ${errorMessage(error)}`, { cause: error });
      }
      const since = parseSince((values.since as string | undefined) ?? DEFAULT_SINCE, deps.now());
      const fates = await target.reader.byRecipient(address, since);
      if (values.json) {
        out.json({ recipient: address, since: since.toISOString(), messages: fates });
        return;
      }
      if (fates.length === 0) {
        out.line(`no message to ${address} since ${since.toISOString()} in ${target.description}`);
        return;
      }
      out.line(`${fates.length} message(s) to ${address} since ${since.toISOString()}, newest first:`);
      const rows = fates.map((fate) => [
        `  ${fate.decision?.timestamp ?? fate.outcomes[0]?.at ?? ""}`,
        fate.messageId,
        `from ${fate.decision ? fate.decision.source || "<>" : "?"}`,
        fate.decision ? JSON.stringify(fate.decision.subject) : "",
        fateSummary(fate),
      ]);
      for (const line of formatTable(rows)) out.line(line);
      out.line(`details: ses-mail trace MESSAGE_ID ${target.option}`);
    },
  };
}

export function traceCommands(overrides: Partial<TraceDeps> = {}): Command[] {
  return [traceCommand({ now: () => new Date(), ...overrides })];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const TRACE_COMMANDS: readonly Command[] = traceCommands();
