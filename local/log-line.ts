/**
 * The one line local mode prints per message: sender → each recipient with its action, and the time
 * from the SMTP 250 reply until every action was done, e.g.
 * `10:00:01 alice@sender.example → bob@test.example.com: forward-to-gmail me@gmail.com; x@test.example.com: bounce [bounce sent to alice@sender.example] (14 ms)`
 * with what the handlers reported in brackets (a bounce sent or suppressed, a delivery parked).
 */
import type { DecisionDetail } from "../core/decision";
import { ACTION_TYPES } from "../core/rules";
import { LOG_LINE_MAX_RECIPIENTS } from "./limits";

/** What happened to a stage of the message (the forwarder or the bouncer queue). */
export interface StageOutcome {
  readonly stage: string;
  readonly ok: boolean;
  readonly reason?: string;
}

function timeOfDay(date: Date): string {
  return date.toISOString().slice(11, 19);
}

/** `recipient: action target [labels]`, one entry per recipient, in envelope order. */
export function actionsByRecipient(detail: DecisionDetail): Array<[string, string[]]> {
  const byRecipient = new Map<string, string[]>();
  for (const type of ACTION_TYPES) {
    for (const target of detail.actions[type].targets) {
      let text: string = type;
      if (target.target) text += ` ${target.target}`;
      if (target.labels?.includes("SPAM")) text += " (as spam)";
      if (type === "drop" && target.match === "policy") text += ` (${target.reason ?? "policy"})`;
      const list = byRecipient.get(target.recipient) ?? [];
      list.push(text);
      byRecipient.set(target.recipient, list);
    }
  }
  return [...byRecipient];
}

export function messageLine(detail: DecisionDetail, outcomes: readonly StageOutcome[], doneAt: Date, notes: readonly string[] = []): string {
  const entries = actionsByRecipient(detail);
  const shown = entries.slice(0, LOG_LINE_MAX_RECIPIENTS).map(([recipient, actions]) => `${recipient}: ${actions.join(", ")}`);
  const more = entries.length > LOG_LINE_MAX_RECIPIENTS ? ` (+${entries.length - LOG_LINE_MAX_RECIPIENTS} more)` : "";
  const failures = outcomes.filter((outcome) => !outcome.ok).map((outcome) => ` — ${outcome.stage} FAILED: ${outcome.reason ?? "unknown error"}`);
  const elapsed = Math.max(0, doneAt.getTime() - Date.parse(detail.timestamp));
  const remarks = notes.length > 0 ? ` [${notes.join("; ")}]` : "";
  return `${timeOfDay(doneAt)} ${detail.source || "<>"} → ${shown.join("; ")}${more}${remarks}${failures.join("")} (${elapsed} ms)`;
}
