/**
 * `ses-mail status`: the state of a deployed stack on one screen: each queue's depth and oldest
 * message, its dead-letter queue, the alarms that are firing, and how long the Gmail tokens have left.
 * With `--local`, the same for local mode's data directory: its four queues (waiting, oldest, dead
 * letters and the command that shows them); local mode has no alarms, and its retry queue holds the
 * deliveries parked for an operator.
 */
import * as path from "node:path";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { deadLetterCount, journalSummary } from "../adapters/local/queue";
import { deadLetterCommands, LOCAL_QUEUE_FOLDERS, LOCAL_QUEUE_ROLES, queueDir } from "../local/data-dir";
import { formatTable, UserError, type Command, type CommandContext, JSON_OPTION } from "./framework";
import {
  describeExpiry,
  describeMonitorValue,
  firingAlarms,
  formatDuration,
  oldestMessageAges,
  otherDeadLetterQueues,
  QUEUE_ROLES,
  queueDepth,
  queuePairs,
  readMonitorValues,
  readTokenMetadata,
  type QueueDepth,
} from "./stack-health";
import { resolveStack, STACK_OPTIONS, STACK_USAGE } from "./stack-target";
import { LOCAL_DATA_OPTIONS, LOCAL_DATA_USAGE, localDataDir } from "./target";

export interface StatusDeps {
  readonly now: () => Date;
}

async function localStatus(context: CommandContext, dataDir: string, now: Date): Promise<void> {
  const { out, values } = context;
  const queues = await Promise.all(
    LOCAL_QUEUE_ROLES.map(async (role) => {
      const dir = queueDir(dataDir, role);
      const journal = await journalSummary(dir);
      return {
        role,
        queue: path.join("queues", LOCAL_QUEUE_FOLDERS[role]),
        waiting: journal.messages,
        oldestSeconds: journal.oldestSentAt ? Math.max(0, Math.round((now.getTime() - journal.oldestSentAt.getTime()) / 1000)) : null,
        deadLettered: await deadLetterCount(dir),
      };
    }),
  );
  if (values.json) {
    out.json({ dataDir, at: now.toISOString(), queues });
    return;
  }
  out.line(`local mode data in ${dataDir} at ${now.toISOString().replace(/\.\d+Z$/, "Z")}`);
  out.line();
  const rows = queues.map((queue) => [
    queue.role,
    String(queue.waiting),
    queue.oldestSeconds === null ? "-" : formatDuration(queue.oldestSeconds),
    queue.deadLettered > 0 ? `${queue.deadLettered}  ← ${deadLetterCommands(dataDir, queue.role).show}` : "0",
  ]);
  for (const line of formatTable([["QUEUE", "WAITING", "OLDEST", "DEAD-LETTERED"], ...rows])) out.line(line);
  const parked = queues.find((queue) => queue.role === "retry")!.waiting;
  if (parked > 0)
    out.line(`${parked} deliver${parked === 1 ? "y is" : "ies are"} parked in the retry queue for a mailbox that needs an operator`);
}

function statusCommand(deps: StatusDeps): Command {
  return {
    name: "status",
    summary: "One screen: queue depths and oldest messages, dead-letter queues, alarms in ALARM, Gmail token countdown",
    usage: `ses-mail status [--json] (${STACK_USAGE} | ${LOCAL_DATA_USAGE})`,
    options: { ...JSON_OPTION, ...STACK_OPTIONS, ...LOCAL_DATA_OPTIONS },
    positionals: [0, 0],
    examples: ["ses-mail status --stack prod", "ses-mail status --local"],
    async run(context) {
      const { out, values } = context;
      const now = deps.now();
      const dataDir = localDataDir(context);
      if (dataDir && values.stack !== undefined) throw new UserError("give --stack or --local, not both");
      if (dataDir) return localStatus(context, dataDir, now);
      const target = resolveStack(context);
      const sqs = new SQSClient(target.clientConfig("SQS"));
      const cloudwatch = new CloudWatchClient(target.clientConfig("CLOUDWATCH"));
      const ssm = new SSMClient(target.clientConfig("SSM"));
      try {
        const pairs = queuePairs(target);
        const others = otherDeadLetterQueues(target);
        const queueNames = [...QUEUE_ROLES.flatMap((role) => [pairs[role].queue, pairs[role].deadLetterQueue]), ...Object.values(others)];
        const [depths, ages, alarms, tokens] = await Promise.all([
          Promise.all(queueNames.map((name) => queueDepth(sqs, target, name))),
          oldestMessageAges(cloudwatch, target, queueNames, now),
          firingAlarms(cloudwatch, target),
          readTokenMetadata(ssm, target),
        ]);
        const monitor = await readMonitorValues(cloudwatch, target, [], now);
        const depth = new Map<string, QueueDepth>(depths.map((entry) => [entry.name, entry]));
        const exists = (name: string) => depth.get(name)?.url !== undefined;
        const nowSeconds = now.getTime() / 1000;

        const queues = QUEUE_ROLES.map((role) => {
          const queue = depth.get(pairs[role].queue)!;
          const deadLetter = depth.get(pairs[role].deadLetterQueue)!;
          return {
            role,
            queue: queue.name,
            exists: exists(queue.name),
            waiting: queue.visible,
            inFlight: queue.inFlight,
            delayed: queue.delayed,
            oldestSeconds: ages.get(queue.name) ?? null,
            deadLetterQueue: deadLetter.name,
            deadLettered: deadLetter.visible + deadLetter.inFlight,
            oldestDeadLetterSeconds: ages.get(deadLetter.name) ?? null,
          };
        });
        const otherDlqs = Object.entries(others).map(([role, name]) => ({
          role,
          queue: name,
          exists: exists(name),
          messages: (depth.get(name)?.visible ?? 0) + (depth.get(name)?.inFlight ?? 0),
        }));

        if (values.json) {
          out.json({
            stack: target.env,
            region: target.region,
            at: now.toISOString(),
            queues,
            otherDeadLetterQueues: otherDlqs,
            alarms: alarms.map((alarm) => ({ name: alarm.name, reason: alarm.reason, since: alarm.since?.toISOString() ?? null })),
            tokens: tokens.map((token) => ({
              account: token.account,
              ...(token.problem
                ? { problem: token.problem }
                : {
                    expiresAt: token.expiresAt ?? null,
                    secondsLeft: token.expiresAtEpoch == null ? null : Math.round(token.expiresAtEpoch - nowSeconds),
                    ...(token.basis ? { expiryBasis: token.basis } : {}),
                  }),
            })),
            monitor: monitor.overall
              ? { secondsUntilExpiration: monitor.overall.seconds, publishedAt: monitor.overall.at.toISOString() }
              : null,
          });
          return;
        }

        if (!queues.some((queue) => queue.exists)) {
          out.line(`${target.description}: none of its queues exist; has the stack been deployed there (pulumi up)?`);
          return;
        }
        out.line(`${target.description} at ${now.toISOString().replace(/\.\d+Z$/, "Z")}`);
        out.line();
        const age = (seconds: number | null) => (seconds === null ? "-" : formatDuration(seconds));
        const rows = queues.map((queue) =>
          queue.exists
            ? [
                queue.role,
                String(queue.waiting),
                String(queue.inFlight + queue.delayed),
                age(queue.oldestSeconds),
                queue.deadLettered > 0 ? `${queue.deadLettered}  ← ses-mail dlq show --queue ${queue.role}` : "0",
              ]
            : [queue.role, "missing", "", "", ""],
        );
        for (const line of formatTable([["QUEUE", "WAITING", "IN FLIGHT", "OLDEST", "DEAD-LETTERED"], ...rows])) out.line(line);
        out.line(`other dead-letter queues: ${otherDlqs.map((dlq) => `${dlq.role} ${dlq.exists ? dlq.messages : "missing"}`).join(", ")}`);
        for (const dlq of otherDlqs.filter((entry) => entry.messages > 0)) out.line(`  ← ses-mail dlq show --queue ${dlq.role}`);
        out.line();

        if (alarms.length === 0) out.line("alarms: none in ALARM");
        else {
          out.line(`alarms in ALARM (${alarms.length}), what to do: docs/OPERATIONS.md`);
          for (const line of formatTable(
            alarms.map((alarm) => [
              `  ${alarm.name}`,
              alarm.since ? `since ${formatDuration(nowSeconds - alarm.since.getTime() / 1000)}` : "",
              alarm.reason,
            ]),
          ))
            out.line(line);
        }
        out.line();

        if (tokens.length === 0)
          out.line(
            `gmail tokens: none; authorize each account a rule forwards to: ses-mail oauth refresh --account ADDRESS --stack ${target.env}`,
          );
        else {
          out.line("gmail tokens:");
          for (const line of formatTable(
            tokens.map((token) => [`  ${token.account}`, token.problem ?? describeExpiry(token.expiresAtEpoch, nowSeconds, token.basis)]),
          ))
            out.line(line);
        }
        out.line(`token monitor (minimum over accounts): ${describeMonitorValue(monitor.overall, now)}`);
      } finally {
        sqs.destroy();
        cloudwatch.destroy();
        ssm.destroy();
      }
    },
  };
}

export function statusCommands(overrides: Partial<StatusDeps> = {}): Command[] {
  return [statusCommand({ now: () => new Date(), ...overrides })];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const STATUS_COMMANDS: readonly Command[] = statusCommands();
