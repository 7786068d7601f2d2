/**
 * `ses-mail dlq show|redrive --queue input|forwarder|bouncer|retry|event-routing|credential-manager`:
 * look at what a dead-letter queue holds and why, then move it back to the queue it came from, with a
 * count and progress. With `--local` (and `--data-dir`), the same for local mode's four queues, whose
 * dead letters are files in `queues/<queue>-dlq/` that record the error of their last attempt; a
 * redrive moves them to `queues/<queue>-redrive/`, where local mode takes them back (within a second
 * while it runs, else at its next start). The event bus's DLQ goes back to the queue each event was meant for (EventBridge
 * names it in the message's TARGET_ARN); the credential manager's DLQ can only be shown (it holds
 * pointers to stream records, which cannot be replayed).
 *
 * The move is receive → SendMessageBatch to the source → DeleteMessageBatch from the DLQ, ten at a
 * time, so it works for every DLQ (the retry DLQ is fed by the retry processor, not by a redrive
 * policy) and reports exactly what moved. A crash between send and delete leaves a copy in both
 * queues; the handlers are idempotent, so the copy is delivered once.
 */
import * as path from "node:path";
import * as readline from "node:readline/promises";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from "@aws-sdk/client-sqs";
import { FunctionKey } from "../components/naming";
import { queueFolders, readDeadLetters, redriveDeadLetters, type DeadLetterRecord } from "../adapters/local/queue";
import { dataDirOption, deadLetterCommands, LOCAL_QUEUE_ROLES, queueDir, type LocalQueueRole } from "../local/data-dir";
import { messageIdOf } from "../local/queue-bodies";
import { describeDeadLetter, summarizeDeadLetter, type DeadLetterSummary } from "./dead-letters";
import { formatTable, UserError, type Command, type CommandContext, type Output, JSON_OPTION } from "./framework";
import { DEFAULT_FOLLOW, replayRetryQueue, type FollowOptions } from "./retry-replay";
import { formatDuration, QUEUE_ROLES, queueDepth, queuePairs, queueUrl } from "./stack-health";
import { LOCAL_DATA_OPTIONS, LOCAL_DATA_USAGE, localDataDir } from "./target";

/** Every DLQ the commands know: the four of working queues, the event bus's and the credential manager's. */
export const DLQ_ROLES = [...QUEUE_ROLES, "event-routing", "credential-manager"] as const;
export type DlqRole = (typeof DLQ_ROLES)[number];
import { aws, resolveStack, STACK_OPTIONS, STACK_USAGE, type StackTarget } from "./stack-target";

/** SQS returns at most 10 messages per receive and takes at most 10 per batch call. */
const SQS_BATCH = 10;
/** Messages shown before a redrive: enough to see a pattern, few enough to read. */
export const DEFAULT_SAMPLE = 5;
/** How long a sampled message stays hidden if the CLI dies before making it visible again. */
const SAMPLE_VISIBILITY_SECONDS = 30;
/** How long a message being moved stays hidden: far longer than one send + delete takes. */
const MOVE_VISIBILITY_SECONDS = 120;
/** Long poll per receive, so a near-empty queue is not mistaken for an empty one (SQS samples servers otherwise). */
const RECEIVE_WAIT_SECONDS = 2;
/** Consecutive empty receives after which the DLQ counts as drained. */
const EMPTY_RECEIVES_TO_STOP = 2;

export interface DlqDeps {
  /** Asks a yes/no question; undefined when there is nobody to ask (not a terminal). */
  readonly confirm: (question: string) => Promise<boolean | undefined>;
  readonly now: () => Date;
  readonly follow: FollowOptions;
}

async function terminalConfirm(question: string): Promise<boolean | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export const DEFAULT_DLQ_DEPS: DlqDeps = { confirm: terminalConfirm, now: () => new Date(), follow: DEFAULT_FOLLOW };

const QUEUE_USAGE = `--queue ${DLQ_ROLES.join("|")}`;
const QUEUE_OPTION = {
  type: "string",
  value: DLQ_ROLES.join("|"),
  description: "which dead-letter queue: of the input queue (routing), the forwarder, the bouncer, or the retry queue (parked deliveries)",
} as const;
const WHERE_USAGE = `(${STACK_USAGE} | ${LOCAL_DATA_USAGE})`;

function queueRole(context: CommandContext): DlqRole {
  const value = context.values.queue as string | undefined;
  if (!value) throw new UserError(`say which dead-letter queue: ${QUEUE_USAGE}`);
  if (!(DLQ_ROLES as readonly string[]).includes(value))
    throw new UserError(`--queue must be one of ${DLQ_ROLES.join(", ")}, not ${JSON.stringify(value)}`);
  return value as DlqRole;
}

function positiveInteger(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new UserError(`--${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(text)}`);
  return value;
}

/** Where the failure of a message from this DLQ is logged. */
function logGroups(target: StackTarget, role: DlqRole): string[] {
  const n = target.names;
  switch (role) {
    case "input":
      return [n.functionLogGroup(FunctionKey.Router), n.pipeLogGroup];
    case "forwarder":
    case "retry":
      return [n.functionLogGroup(FunctionKey.GmailForwarder)];
    case "bouncer":
      return [n.functionLogGroup(FunctionKey.Bouncer)];
    case "event-routing":
      return [n.busLogGroup];
    case "credential-manager":
      return [n.functionLogGroup(FunctionKey.CredentialManager)];
  }
}

function stringAttributes(message: Message): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
    if (value.StringValue !== undefined) result[name] = value.StringValue;
  return result;
}

interface Sampled {
  readonly sqsMessageId: string;
  readonly summary: DeadLetterSummary;
  readonly receiveCount: number;
  readonly sentAt?: Date;
}

/** Reads up to `limit` messages without consuming them: they are made visible again right away. */
async function sample(sqs: SQSClient, target: StackTarget, url: string, limit: number): Promise<Sampled[]> {
  const received = await aws(target, `the queue ${url}`, () =>
    sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(limit, SQS_BATCH),
        WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
        VisibilityTimeout: SAMPLE_VISIBILITY_SECONDS,
        MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
        MessageAttributeNames: ["All"],
      }),
    ),
  );
  const messages = received.Messages ?? [];
  if (messages.length > 0) {
    await aws(target, `the queue ${url}`, () =>
      sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      ),
    );
  }
  return messages.map((message) => {
    const sent = Number(message.Attributes?.SentTimestamp);
    return {
      sqsMessageId: message.MessageId ?? "",
      summary: summarizeDeadLetter(message.Body ?? "", stringAttributes(message)),
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
      ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
    };
  });
}

interface Destination {
  readonly name: string;
  readonly url: string;
}

interface Located {
  readonly role: DlqRole;
  readonly deadLetterQueue: string;
  readonly deadLetterUrl: string;
  readonly count: number;
  /** Where the messages go back to, in words: a queue name, or how it is chosen. */
  readonly destinationLabel: string;
  /** Where one message goes back to; undefined when it cannot go anywhere. */
  destination(message: Message): Destination | undefined;
}

async function existingQueue(sqs: SQSClient, target: StackTarget, name: string): Promise<Destination> {
  const url = await queueUrl(sqs, target, name);
  if (!url)
    throw new UserError(`the queue ${name} does not exist in ${target.description}: has the stack been deployed there (pulumi up)?`);
  return { name, url };
}

async function locate(sqs: SQSClient, target: StackTarget, role: DlqRole): Promise<Located> {
  const n = target.names;
  const dlqName =
    role === "event-routing"
      ? n.eventRoutingDeadLetterQueue
      : role === "credential-manager"
        ? n.credentialDeadLetterQueue
        : queuePairs(target)[role].deadLetterQueue;
  const depth = await queueDepth(sqs, target, dlqName);
  if (!depth.url)
    throw new UserError(`the queue ${dlqName} does not exist in ${target.description}: has the stack been deployed there (pulumi up)?`);
  const base = { role, deadLetterQueue: dlqName, deadLetterUrl: depth.url, count: depth.visible + depth.inFlight };
  if (role === "credential-manager")
    return { ...base, destinationLabel: "nowhere (stream records cannot be replayed)", destination: () => undefined };
  if (role === "event-routing") {
    // EventBridge names the target each event failed to reach; only this stack's handler queues qualify.
    const targets = await Promise.all([n.gmailQueue, n.bouncerQueue].map((name) => existingQueue(sqs, target, name)));
    return {
      ...base,
      destinationLabel: `the queue each event was meant for (${targets.map((t) => t.name).join(" or ")})`,
      destination: (message) => {
        const arn = message.MessageAttributes?.TARGET_ARN?.StringValue ?? "";
        return targets.find((t) => arn.endsWith(`:${t.name}`));
      },
    };
  }
  const source = await existingQueue(sqs, target, queuePairs(target)[role].queue);
  return { ...base, destinationLabel: source.name, destination: () => source };
}

function printSample(out: Output, target: StackTarget, located: Located, sampled: readonly Sampled[], now: Date): void {
  out.line(`${located.deadLetterQueue}: about ${located.count} message(s)${sampled.length > 0 ? `; ${sampled.length} of them:` : ""}`);
  if (sampled.length === 0) return;
  const rows = sampled.map((entry) => [
    `  ${describeDeadLetter(entry.summary)}`,
    entry.sentAt ? `${formatDuration((now.getTime() - entry.sentAt.getTime()) / 1000)} ago` : "",
  ]);
  for (const line of formatTable(rows)) out.line(line);
  const reasons = sampled.filter((entry) => entry.summary.reason);
  for (const entry of reasons) out.line(`    why (${entry.summary.messageId ?? entry.sqsMessageId}): ${entry.summary.reason}`);
  if (reasons.length < sampled.length) {
    const first = sampled.find((entry) => !entry.summary.reason)!;
    const since = first.sentAt ? ` --start-time ${first.sentAt.getTime() - 60_000}` : "";
    out.line(`    why: the handler logged each failure; for example:`);
    for (const group of logGroups(target, located.role)) {
      const pattern = first.summary.kind === "stream-batch" ? "" : ` --filter-pattern '"${first.summary.messageId ?? first.sqsMessageId}"'`;
      out.line(`      aws logs filter-log-events --region ${target.region} --log-group-name ${group}${pattern}${since}`);
    }
  }
}

/** Asks before a redrive unless `--yes`; refuses when nobody can answer. False (and says so) when the answer is no. */
async function confirmMove(context: CommandContext, deps: DlqDeps, question: string): Promise<boolean> {
  if (context.values.yes === true) return true;
  const answer = await deps.confirm(question);
  if (answer === undefined) throw new UserError(`${question} Nothing was moved: fix the cause first, then add --yes to move them`);
  if (!answer) context.out.line("nothing was moved");
  return answer;
}

/* ------------------------------------------------------------------------------------------------
 * Local mode: dead letters are files.
 * ---------------------------------------------------------------------------------------------- */

/** The data directory when the command is aimed at local mode; refuses --stack with it. */
function localTarget(context: CommandContext): string | undefined {
  const dataDir = localDataDir(context);
  if (dataDir && context.values.stack !== undefined) throw new UserError("give --stack or --local, not both");
  if (!dataDir && context.values.stack === undefined) throw new UserError(`say which dead-letter queues: ${WHERE_USAGE}`);
  return dataDir;
}

function localRole(role: DlqRole): LocalQueueRole {
  if (!(LOCAL_QUEUE_ROLES as readonly string[]).includes(role)) {
    throw new UserError(`local mode has no ${role} dead-letter queue; its queues are ${LOCAL_QUEUE_ROLES.join(", ")}`);
  }
  return role as LocalQueueRole;
}

interface LocalDeadLetters {
  readonly role: LocalQueueRole;
  readonly dir: string;
  /** `queues/gmail-forwarder-dlq`, as the data directory names it. */
  readonly label: string;
  readonly returnsTo: string;
  readonly letters: readonly DeadLetterRecord[];
}

async function localDeadLetters(dataDir: string, role: LocalQueueRole): Promise<LocalDeadLetters> {
  const dir = queueDir(dataDir, role);
  const folders = queueFolders(dir);
  return {
    role,
    dir,
    label: path.relative(dataDir, folders.deadLetters),
    returnsTo: path.relative(dataDir, folders.journal),
    letters: await readDeadLetters(folders.deadLetters),
  };
}

function printLocalSample(out: Output, dataDir: string, found: LocalDeadLetters, limit: number, now: Date): void {
  const sampled = found.letters.slice(0, limit);
  out.line(
    `${found.label} in ${dataDir}: ${found.letters.length} message(s)${sampled.length > 0 && sampled.length < found.letters.length ? `; ${sampled.length} of them:` : sampled.length > 0 ? ":" : ""}`,
  );
  const rows = sampled.map((letter) => {
    const at = Date.parse(letter.deadLetteredAt);
    return [
      `  ${describeDeadLetter(summarizeDeadLetter(letter.body))}`,
      `${Number.isNaN(at) ? "dead-lettered" : `dead-lettered ${formatDuration((now.getTime() - at) / 1000)} ago`} after ${letter.receiveCount} attempt(s)`,
    ];
  });
  for (const line of formatTable(rows)) out.line(line);
  for (const letter of sampled)
    out.line(`    why (${messageIdOf(letter.body) ?? letter.id}): ${letter.error.code}: ${letter.error.message}`);
}

async function showLocal(context: CommandContext, dataDir: string, role: LocalQueueRole, limit: number, deps: DlqDeps): Promise<void> {
  const { out, values } = context;
  const found = await localDeadLetters(dataDir, role);
  if (values.json) {
    out.json({
      deadLetterQueue: found.label,
      dataDir,
      returnsTo: found.returnsTo,
      count: found.letters.length,
      sample: found.letters.slice(0, limit).map((letter) => ({
        id: letter.id,
        receiveCount: letter.receiveCount,
        sentAt: letter.sentTimestamp > 0 ? new Date(letter.sentTimestamp).toISOString() : null,
        deadLetteredAt: letter.deadLetteredAt || null,
        error: letter.error,
        ...summarizeDeadLetter(letter.body),
      })),
    });
    return;
  }
  printLocalSample(out, dataDir, found, limit, deps.now());
  if (found.letters.length === 0) return;
  const id = messageIdOf(found.letters[0]!.body);
  if (id) out.line(`trace one with: ses-mail trace ${id} ${dataDirOption(dataDir)}`);
  out.line(`move them back with: ${deadLetterCommands(dataDir, role).redrive}`);
}

async function redriveLocal(
  context: CommandContext,
  dataDir: string,
  role: LocalQueueRole,
  max: number | undefined,
  deps: DlqDeps,
): Promise<void> {
  const { out, values } = context;
  if (values.replay) throw new UserError("--replay is for a deployed stack's retry processor: local mode's retry queue replays by itself");
  const found = await localDeadLetters(dataDir, role);
  if (found.letters.length === 0) {
    out.line(`${found.label} in ${dataDir} is empty: nothing to move`);
    return;
  }
  printLocalSample(out, dataDir, found, DEFAULT_SAMPLE, deps.now());
  const chosen = found.letters.slice(0, max ?? found.letters.length);
  if (!(await confirmMove(context, deps, `Move ${chosen.length} message(s) from ${found.label} back to ${found.returnsTo}?`))) return;
  const moved = await redriveDeadLetters(
    found.dir,
    chosen.map((letter) => letter.id),
  );
  out.line(
    `moved ${moved.length} message(s) from ${found.label} back to ${found.returnsTo}: local mode takes them within a second while it runs, or at its next start`,
  );
  if (moved.length < chosen.length) out.line(`${chosen.length - moved.length} of them had gone meanwhile (redriven by someone else)`);
}

function show(deps: DlqDeps): Command {
  return {
    name: "dlq show",
    summary: "Show what a dead-letter queue holds and why it failed, without moving anything",
    usage: `ses-mail dlq show ${QUEUE_USAGE} [--limit N] [--json] ${WHERE_USAGE}`,
    options: {
      queue: QUEUE_OPTION,
      limit: {
        type: "string",
        value: "N",
        description: `how many dead letters to show (at most ${SQS_BATCH})`,
        defaultsTo: String(DEFAULT_SAMPLE),
      },
      ...JSON_OPTION,
      ...STACK_OPTIONS,
      ...LOCAL_DATA_OPTIONS,
    },
    positionals: [0, 0],
    examples: ["ses-mail dlq show --queue forwarder --stack prod", "ses-mail dlq show --queue input --local"],
    async run(context) {
      const role = queueRole(context);
      const limit = positiveInteger("limit", context.values.limit as string | undefined, DEFAULT_SAMPLE, SQS_BATCH);
      const dataDir = localTarget(context);
      if (dataDir) return showLocal(context, dataDir, localRole(role), limit, deps);
      const target = resolveStack(context);
      const sqs = new SQSClient(target.clientConfig("SQS"));
      try {
        const located = await locate(sqs, target, role);
        const sampled = located.count > 0 ? await sample(sqs, target, located.deadLetterUrl, limit) : [];
        if (context.values.json) {
          context.out.json({
            deadLetterQueue: located.deadLetterQueue,
            returnsTo: located.destinationLabel,
            approximateCount: located.count,
            sample: sampled.map((entry) => ({
              sqsMessageId: entry.sqsMessageId,
              receiveCount: entry.receiveCount,
              sentAt: entry.sentAt?.toISOString() ?? null,
              ...entry.summary,
            })),
          });
          return;
        }
        printSample(context.out, target, located, sampled, deps.now());
        if (located.count > 0 && role === "credential-manager") context.out.line(credentialDlqAdvice(target));
        else if (located.count > 0) context.out.line(`move them back with: ses-mail dlq redrive --queue ${role} --stack ${target.env}`);
      } finally {
        sqs.destroy();
      }
    },
  };
}

export interface MoveResult {
  readonly moved: number;
  readonly failed: number;
  readonly notDeleted: number;
  readonly reasons: readonly string[];
}

/** Moves up to `limit` messages from the DLQ back where they came from, ten at a time, noting progress. */
export async function moveMessages(sqs: SQSClient, target: StackTarget, located: Located, limit: number, out: Output): Promise<MoveResult> {
  let moved = 0;
  let failed = 0;
  let notDeleted = 0;
  let empty = 0;
  const reasons = new Set<string>();
  while (moved + failed < limit && empty < EMPTY_RECEIVES_TO_STOP) {
    const received = await aws(target, `the queue ${located.deadLetterQueue}`, () =>
      sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: located.deadLetterUrl,
          MaxNumberOfMessages: Math.min(SQS_BATCH, limit - moved - failed),
          WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
          VisibilityTimeout: MOVE_VISIBILITY_SECONDS,
          MessageAttributeNames: ["All"],
        }),
      ),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    const byDestination = new Map<string, { destination: Destination; messages: Message[] }>();
    for (const message of messages) {
      const destination = located.destination(message);
      if (!destination) {
        failed++;
        reasons.add("no queue of this stack to return it to");
        continue;
      }
      const group = byDestination.get(destination.url) ?? { destination, messages: [] };
      group.messages.push(message);
      byDestination.set(destination.url, group);
    }
    for (const { destination, messages: batch } of byDestination.values()) {
      const sent = await aws(target, `the queue ${destination.name}`, () =>
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: destination.url,
            Entries: batch.map((message, index) => ({
              Id: String(index),
              MessageBody: message.Body ?? "",
              ...(message.MessageAttributes && Object.keys(message.MessageAttributes).length > 0
                ? { MessageAttributes: message.MessageAttributes as Record<string, MessageAttributeValue> }
                : {}),
            })),
          }),
        ),
      );
      for (const failure of sent.Failed ?? []) {
        failed++;
        reasons.add(`${failure.Code ?? "?"}: ${failure.Message ?? ""}`);
      }
      const done = (sent.Successful ?? []).map((entry) => batch[Number(entry.Id)]!).filter(Boolean);
      if (done.length > 0) {
        const deleted = await aws(target, `the queue ${located.deadLetterQueue}`, () =>
          sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: located.deadLetterUrl,
              Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
            }),
          ),
        );
        notDeleted += deleted.Failed?.length ?? 0;
        moved += done.length;
      }
    }
    out.note(`  moved ${moved} of ${limit}${failed > 0 ? ` (${failed} could not be sent)` : ""}`);
  }
  return { moved, failed, notDeleted, reasons: [...reasons] };
}

function credentialDlqAdvice(target: StackTarget): string {
  return (
    `these are stream records the credential manager gave up on; they cannot be replayed. ` +
    `See each user's state with \`ses-mail smtp-user list --stack ${target.env}\`: rotate a failed or stuck one (smtp-user rotate NAME), ` +
    `then empty this queue (docs/OPERATIONS.md, credential-manager DLQ)`
  );
}

async function replay(target: StackTarget, out: Output, deps: DlqDeps): Promise<void> {
  const outcome = await replayRetryQueue(target, out, "dlq redrive --queue retry --replay", deps.follow);
  out.line(`retry queue replayed: ${outcome.delivered} delivered, ${outcome.deadLettered} moved to the retry DLQ again`);
}

function redrive(deps: DlqDeps): Command {
  return {
    name: "dlq redrive",
    summary: "Move dead-lettered messages back to their queue, after showing a sample of what failed and why",
    usage: `ses-mail dlq redrive ${QUEUE_USAGE} [--yes] [--max N] [--replay] ${WHERE_USAGE}`,
    options: {
      queue: QUEUE_OPTION,
      yes: { type: "boolean", description: "move without asking (needed when not at a terminal)" },
      max: { type: "string", value: "N", description: "move at most N messages", defaultsTo: "all of them" },
      replay: {
        type: "boolean",
        description: "with --queue retry: also start the retry processor now and follow it, instead of waiting for its hourly run",
      },
      ...STACK_OPTIONS,
      ...LOCAL_DATA_OPTIONS,
    },
    positionals: [0, 0],
    examples: [
      "ses-mail dlq redrive --queue forwarder --stack prod",
      "ses-mail dlq redrive --queue retry --replay --yes --stack prod",
      "ses-mail dlq redrive --queue forwarder --local --yes",
    ],
    async run(context) {
      const { out, values } = context;
      const role = queueRole(context);
      if (values.replay && role !== "retry") throw new UserError("--replay applies to --queue retry only (it starts the retry processor)");
      const max = values.max === undefined ? undefined : positiveInteger("max", values.max as string, 0, 100_000);
      const dataDir = localTarget(context);
      if (dataDir) return redriveLocal(context, dataDir, localRole(role), max, deps);
      const target = resolveStack(context);
      const sqs = new SQSClient(target.clientConfig("SQS"));
      try {
        if (role === "credential-manager")
          throw new UserError(`the credential-manager DLQ cannot be redriven: ${credentialDlqAdvice(target)}`);
        const located = await locate(sqs, target, role);
        if (located.count === 0) {
          out.line(`${located.deadLetterQueue} is empty: nothing to move`);
          if (values.replay) await replay(target, out, deps);
          return;
        }
        printSample(out, target, located, await sample(sqs, target, located.deadLetterUrl, DEFAULT_SAMPLE), deps.now());
        const limit = Math.min(max ?? located.count, located.count);
        if (
          !(await confirmMove(
            context,
            deps,
            `Move ${limit} message(s) from ${located.deadLetterQueue} back to ${located.destinationLabel}?`,
          ))
        )
          return;
        out.note(`moving ${limit} message(s) from ${located.deadLetterQueue} to ${located.destinationLabel}`);
        const result = await moveMessages(sqs, target, located, limit, out);
        out.line(`moved ${result.moved} message(s) from ${located.deadLetterQueue} back to ${located.destinationLabel}`);
        if (result.notDeleted > 0) {
          out.line(
            `${result.notDeleted} of them could not be deleted from the DLQ and are in both queues; the handlers are idempotent, so each is delivered once`,
          );
        }
        if (result.failed > 0) {
          throw new UserError(
            `${result.failed} message(s) could not be sent back (${result.reasons.join("; ")}); they stay in ${located.deadLetterQueue}: fix the cause and run the command again`,
          );
        }
        if (role === "retry") {
          if (values.replay) await replay(target, out, deps);
          else
            out.line(
              `the retry processor replays them within the hour, or now with: ses-mail dlq redrive --queue retry --replay --stack ${target.env}`,
            );
        }
      } finally {
        sqs.destroy();
      }
    },
  };
}

export function dlqCommands(overrides: Partial<DlqDeps> = {}): Command[] {
  const deps: DlqDeps = { ...DEFAULT_DLQ_DEPS, ...overrides };
  return [show(deps), redrive(deps)];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const DLQ_COMMANDS: readonly Command[] = dlqCommands();
