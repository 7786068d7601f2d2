/**
 * Starting the retry processor (the state machine that replays the Gmail forwarder's retry queue) and
 * following one execution to its end, with progress counted from its history: each message ends in
 * the `DeleteDelivered` state (imported) or `DeleteDeadLettered` (moved to the retry DLQ after its
 * backoff). The state names are those of components/workflows.ts.
 */
import {
  DescribeExecutionCommand,
  paginateGetExecutionHistory,
  paginateListStateMachines,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from "@aws-sdk/client-sfn";
import type { Clock } from "../core/ports";
import { UserError, type Output } from "./framework";
import { aws, awsPages, type StackTarget } from "./stack-target";

/** How often a running execution is looked at: often enough to feel live, far below SFN's API quotas. */
export const REPLAY_POLL_INTERVAL_MS = 3000;
/**
 * How long the CLI follows a replay. A healthy queue drains in seconds to minutes; a batch whose
 * messages keep failing takes the forwarder's timeout four times plus 210 s of backoff, so a long
 * replay is left running in AWS rather than holding the terminal.
 */
export const REPLAY_FOLLOW_TIMEOUT_MS = 15 * 60 * 1000;
/** Pages of history read per look (1,000 events each): bounds the work on a very long execution. */
const MAX_HISTORY_PAGES = 25;

const DELIVERED_STATE = "DeleteDelivered";
const DEAD_LETTERED_STATE = "DeleteDeadLettered";

export interface ReplayCounts {
  readonly delivered: number;
  readonly deadLettered: number;
}

export interface ReplayOutcome extends ReplayCounts {
  readonly executionArn: string;
  readonly status: string;
  readonly seconds: number;
}

export interface FollowOptions {
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: Clock;
}

export const DEFAULT_FOLLOW: FollowOptions = {
  pollIntervalMs: REPLAY_POLL_INTERVAL_MS,
  timeoutMs: REPLAY_FOLLOW_TIMEOUT_MS,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => new Date(),
};

/** Counts replayed messages by the state each one ended in. */
export function countOutcomes(events: readonly HistoryEvent[]): ReplayCounts {
  let delivered = 0;
  let deadLettered = 0;
  for (const event of events) {
    if (event.type !== "TaskStateExited") continue;
    const name = event.stateExitedEventDetails?.name;
    if (name === DELIVERED_STATE) delivered++;
    else if (name === DEAD_LETTERED_STATE) deadLettered++;
  }
  return { delivered, deadLettered };
}

/** The retry processor's ARN, found by its name (no account id needed). */
export async function findStateMachineArn(client: SFNClient, target: StackTarget, name: string): Promise<string> {
  for await (const page of awsPages(target, `the state machine ${name}`, paginateListStateMachines({ client, pageSize: 1000 }, {}))) {
    const found = page.stateMachines?.find((machine) => machine.name === name);
    if (found?.stateMachineArn) return found.stateMachineArn;
  }
  throw new UserError(`the state machine ${name} does not exist in ${target.description}: has the stack been deployed there (pulumi up)?`);
}

async function readHistory(client: SFNClient, target: StackTarget, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let pages = 0;
  const history = paginateGetExecutionHistory({ client, pageSize: 1000 }, { executionArn, includeExecutionData: false });
  for await (const page of awsPages(target, `the history of ${executionArn}`, history)) {
    events.push(...(page.events ?? []));
    if (++pages >= MAX_HISTORY_PAGES) break;
  }
  return events;
}

function describeCounts(counts: ReplayCounts): string {
  return `${counts.delivered} delivered, ${counts.deadLettered} moved to the retry DLQ`;
}

/**
 * Starts the retry processor and follows the execution to its end, noting progress on stderr.
 * Throws a UserError when it fails, or when it is still running after `timeoutMs` (it then continues
 * in AWS; the message says where to watch it).
 */
export async function replayRetryQueue(
  target: StackTarget,
  out: Output,
  reason: string,
  options: FollowOptions = DEFAULT_FOLLOW,
): Promise<ReplayOutcome> {
  const client = new SFNClient(target.clientConfig("SFN"));
  try {
    const stateMachineArn = await findStateMachineArn(client, target, target.names.retryProcessor);
    const startedAt = options.now().getTime();
    const started = await aws(target, `the state machine ${target.names.retryProcessor}`, () =>
      client.send(
        new StartExecutionCommand({
          stateMachineArn,
          // Execution names are unique per state machine for 90 days; the time keeps them unique and readable.
          name: `ses-mail-cli-${new Date(startedAt).toISOString().replace(/[:.]/g, "-")}`,
          input: JSON.stringify({ startedBy: "ses-mail", reason }),
        }),
      ),
    );
    const executionArn = started.executionArn!;
    out.note(`replaying the retry queue: started ${target.names.retryProcessor} (execution ${executionArn.split(":").pop()})`);

    let last = "";
    for (;;) {
      const described = await aws(target, `the execution ${executionArn}`, () =>
        client.send(new DescribeExecutionCommand({ executionArn })),
      );
      const counts = countOutcomes(await readHistory(client, target, executionArn));
      const seconds = Math.round((options.now().getTime() - startedAt) / 1000);
      const status = described.status ?? "RUNNING";
      const progress = describeCounts(counts);
      if (progress !== last) {
        out.note(`  ${progress} (${seconds} s)`);
        last = progress;
      }
      if (status === "SUCCEEDED") return { executionArn, status, seconds, ...counts };
      if (status !== "RUNNING" && status !== "PENDING_REDRIVE") {
        const why = [described.error, described.cause].filter(Boolean).join(": ");
        throw new UserError(
          `the retry processor ended ${status}${why ? ` (${why})` : ""} after ${progress}; the messages not replayed stay in the retry queue for its hourly run. Execution: ${executionArn}`,
        );
      }
      if (options.now().getTime() - startedAt >= options.timeoutMs) {
        throw new UserError(
          `the retry processor is still running after ${Math.round(options.timeoutMs / 60000)} min (${progress} so far); it carries on in AWS without this command. Watch it with \`ses-mail status --stack ${target.env}\` or in the Step Functions console: ${executionArn}`,
        );
      }
      await options.sleep(options.pollIntervalMs);
    }
  } finally {
    client.destroy();
  }
}
