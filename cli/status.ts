/**
 * `ses-mail status`: the state of a deployed stack on one screen: each queue's depth and oldest
 * message, its dead-letter queue, the alarms that are firing, and how long the Gmail tokens have left.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { formatTable, type Command } from "./framework";
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

export interface StatusDeps {
  readonly now: () => Date;
}

function statusCommand(deps: StatusDeps): Command {
  return {
    name: "status",
    summary: "One screen: queue depths and oldest messages, dead-letter queues, alarms in ALARM, Gmail token countdown",
    usage: `ses-mail status [--json] ${STACK_USAGE}`,
    options: { ...STACK_OPTIONS, json: { type: "boolean" } },
    positionals: [0, 0],
    async run(context) {
      const { out, values } = context;
      const target = resolveStack(context);
      const now = deps.now();
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
        const otherDlqs = Object.entries(others).map(([role, name]) => ({ role, queue: name, exists: exists(name), messages: (depth.get(name)?.visible ?? 0) + (depth.get(name)?.inFlight ?? 0) }));

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
              ...(token.problem ? { problem: token.problem } : { expiresAt: token.expiresAt ?? null, secondsLeft: token.expiresAtEpoch == null ? null : Math.round(token.expiresAtEpoch - nowSeconds), ...(token.basis ? { expiryBasis: token.basis } : {}) }),
            })),
            monitor: monitor.overall ? { secondsUntilExpiration: monitor.overall.seconds, publishedAt: monitor.overall.at.toISOString() } : null,
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
            ? [queue.role, String(queue.waiting), String(queue.inFlight + queue.delayed), age(queue.oldestSeconds), queue.deadLettered > 0 ? `${queue.deadLettered}  ← ses-mail dlq show --queue ${queue.role}` : "0"]
            : [queue.role, "missing", "", "", ""],
        );
        for (const line of formatTable([["QUEUE", "WAITING", "IN FLIGHT", "OLDEST", "DEAD-LETTERED"], ...rows])) out.line(line);
        out.line(`other dead-letter queues: ${otherDlqs.map((dlq) => `${dlq.role} ${dlq.exists ? dlq.messages : "missing"}`).join(", ")}`);
        for (const dlq of otherDlqs.filter((entry) => entry.messages > 0)) out.line(`  ← ses-mail dlq show --queue ${dlq.role}`);
        out.line();

        if (alarms.length === 0) out.line("alarms: none in ALARM");
        else {
          out.line(`alarms in ALARM (${alarms.length}), what to do: docs/OPERATIONS.md`);
          for (const line of formatTable(alarms.map((alarm) => [`  ${alarm.name}`, alarm.since ? `since ${formatDuration(nowSeconds - alarm.since.getTime() / 1000)}` : "", alarm.reason]))) out.line(line);
        }
        out.line();

        if (tokens.length === 0) out.line(`gmail tokens: none; authorize each account a rule forwards to: ses-mail oauth refresh --account ADDRESS --stack ${target.env}`);
        else {
          out.line("gmail tokens:");
          for (const line of formatTable(tokens.map((token) => [`  ${token.account}`, token.problem ?? describeExpiry(token.expiresAtEpoch, nowSeconds, token.basis)]))) out.line(line);
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

export const STATUS_COMMANDS: readonly Command[] = statusCommands();
