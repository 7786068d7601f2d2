/**
 * `ses-mail route --event FILE`: the routing decision for a saved SES receipt notification, made with
 * the live rules by the very router the Lambda runs.
 */
import * as fs from "node:fs";
import { ACTION_TYPES } from "../core/rules";
import type { DecisionDetail } from "../core/decision";
import { errorMessage, InvalidNotificationError, RuleStoreError, SesMailError } from "../core/errors";
import { createObservability } from "../handlers/observability";
import { createRouter, decisionsForPipe } from "../handlers/router";
import { formatTable, JSON_OPTION, UserError, type Command } from "./framework";
import { explainStoreError, resolveRulesTarget, TARGET_OPTIONS, TARGET_USAGE } from "./target";

/**
 * Turns what the file holds into the Pipe's batch: a notification, an SNS envelope, an SQS record
 * (with `body`), or a batch of records.
 */
export function batchFromFile(value: unknown): Array<{ messageId: string; body: string }> {
  if (Array.isArray(value))
    return value.map((record, index) => ({ ...(batchFromFile(record)[0] ?? { body: "" }), messageId: `entry ${index + 1}` }));
  if (typeof value === "object" && value !== null && "body" in value && typeof (value as { body: unknown }).body === "string") {
    const record = value as { body: string };
    return [{ messageId: "the file", body: record.body }];
  }
  return [{ messageId: "the file", body: JSON.stringify(value) }];
}

/** The router's "SQS message <id>: <why>" in the words of the file the user gave. */
function notificationProblem(error: InvalidNotificationError, file: string): string {
  const match = /^SQS message (.+?): (.*)$/s.exec(error.message);
  if (!match) return `${file}: ${error.message}`;
  const [, where, why] = match;
  return `${where === "the file" ? file : `${file}, ${where}`}: ${why}`;
}

export function describeDecision(detail: DecisionDetail): string[] {
  const lines = [
    `message ${detail.originalMessageId} from ${detail.source || "<>"}: ${JSON.stringify(detail.subject)}`,
    `verdicts: spam ${detail.verdicts.spam}, virus ${detail.verdicts.virus}, spf ${detail.verdicts.spf}, dkim ${detail.verdicts.dkim}, dmarc ${detail.verdicts.dmarc}` +
      (detail.verdicts.dmarcPolicy ? ` (policy ${detail.verdicts.dmarcPolicy})` : "") +
      ` → ${detail.verdicts.disposition}${detail.verdicts.reasons.length ? ` (${detail.verdicts.reasons.join(", ")})` : ""}`,
  ];
  const rows: string[][] = [];
  for (const type of ACTION_TYPES) {
    for (const target of detail.actions[type].targets) {
      rows.push([
        `  ${target.recipient}`,
        type,
        target.target ? `${target.target}${target.labels ? ` [${target.labels.join(", ")}]` : ""}` : "",
        `${target.match}${target.rule ? ` ${target.rule}` : ""}`,
        target.reason ?? "",
      ]);
    }
  }
  return [...lines, ...formatTable([["  RECIPIENT", "ACTION", "TARGET", "MATCH", "REASON"], ...rows])];
}

const route: Command = {
  name: "route",
  summary: "Show the routing decision for a saved SES receipt notification, with the live rules",
  usage: `ses-mail route --event FILE [--json] ${TARGET_USAGE}`,
  options: {
    event: {
      type: "string",
      value: "FILE",
      description: "a saved SES receipt notification (JSON), as SNS delivers it, or a batch of them",
    },
    ...JSON_OPTION,
    ...TARGET_OPTIONS,
  },
  positionals: [0, 0],
  examples: ["ses-mail route --event tests/fixtures/ses-receipt-notification.json --local"],
  async run(context) {
    const file = context.values.event as string | undefined;
    if (!file) throw new UserError(`say which notification: --event FILE (a saved SES receipt notification)\nusage: ${this.usage}`);
    let value: unknown;
    try {
      value = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (error) {
      throw new UserError(`cannot read ${file}: ${errorMessage(error)}`);
    }
    const target = resolveRulesTarget(context);
    const router = createRouter({
      rules: target.store,
      settings: target.settings,
      observability: createObservability("cli", { quiet: true }),
    });
    let decisions: DecisionDetail[];
    try {
      // SES's setup notification is not mail and has no decision.
      decisions = decisionsForPipe(await router(batchFromFile(value)));
    } catch (error) {
      if (error instanceof InvalidNotificationError) {
        throw new UserError(
          `${notificationProblem(error, file)}\n--event takes an SES receipt notification as SNS delivers it (its "notificationType" is "Received"), e.g. tests/fixtures/ses-receipt-notification.json`,
          { cause: error },
        );
      }
      if (error instanceof SesMailError && !(error instanceof RuleStoreError)) throw error;
      return explainStoreError(error, target);
    }
    if (context.values.json) {
      context.out.json(decisions.length === 1 ? decisions[0] : decisions);
      return;
    }
    decisions.forEach((decision, index) => {
      if (index > 0) context.out.line();
      for (const line of describeDecision(decision)) context.out.line(line);
    });
  },
};

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const ROUTE_COMMANDS: readonly Command[] = [route];
