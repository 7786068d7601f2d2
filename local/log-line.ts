/**
 * What local mode prints, built from the handlers' outcomes (core/outcomes.ts), never from log text.
 *
 * One line per message once every action is done: the time, the SES message id (what `ses-mail trace`
 * takes), sender → each recipient with its action, what the handlers reported in brackets (each DSN
 * sent, each suppressed bounce and why, a delivery parked), a dead letter with its error, and the time
 * from the SMTP 250 reply, e.g.
 * `10:00:01 0mh3…k2 alice@sender.example → bob@test.example.com: forward-to-gmail me@gmail.com; x@test.example.com: bounce [bounce sent to alice@sender.example] (14 ms)`
 *
 * One short line per failed attempt that will be retried (`retryLine`), so an expected condition, such
 * as a delivery still locked after a crash, reads as one sentence rather than a stack trace.
 */
import type { DecisionDetail } from "../core/decision";
import { ErrorCode } from "../core/errors";
import type { DeadLetteredOutcome, Outcome, OutcomeError } from "../core/outcomes";
import { ACTION_TYPES } from "../core/rules";
import { LOG_LINE_MAX_RECIPIENTS } from "./limits";

/** Error text in a console line is cut here: the whole of it is in the dead letter and in `trace`. */
export const LOG_LINE_MAX_ERROR_CHARS = 200;

export interface LineOptions {
  /** The command that shows a queue's dead letters (by the queue's folder name), for the operator to run. */
  readonly deadLetterCommand?: (queue: string) => string | undefined;
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

function shorten(text: string, max = LOG_LINE_MAX_ERROR_CHARS): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** An error as a line shows it: the code, then the message cut to one line. */
export function errorSummary(error: OutcomeError): string {
  return `${error.code}: ${shorten(error.message)}`;
}

/** What the handlers reported, in report order: one remark per DSN sent, per suppressed bounce, per parked delivery. */
export function remarksOf(outcomes: readonly Outcome[]): string[] {
  const remarks: string[] = [];
  const add = (text: string) => {
    if (!remarks.includes(text)) remarks.push(text);
  };
  const dsnsTo = new Map<string, number>();
  for (const outcome of outcomes) if (outcome.kind === "bounce-sent") dsnsTo.set(outcome.to, (dsnsTo.get(outcome.to) ?? 0) + 1);
  for (const outcome of outcomes) {
    switch (outcome.kind) {
      case "bounce-sent": {
        const count = dsnsTo.get(outcome.to) ?? 1;
        add(count === 1 ? `bounce sent to ${outcome.to}` : `${count} bounces sent to ${outcome.to}`);
        break;
      }
      case "bounce-suppressed":
        add(`no bounce for ${outcome.recipient} (${outcome.reason})`);
        break;
      case "parked":
        add(`${outcome.account} needs an operator: parked in the retry queue`);
        break;
      case "given-up":
        add(`${outcome.account} still needs an operator since ${outcome.parkedSince}: given up`);
        break;
      case "possible-duplicate":
        add(`${outcome.account} may hold it twice: ${shorten(outcome.reason)}`);
        break;
      case "already-imported":
        add(`already in ${outcome.account}`);
        break;
      default:
        break;
    }
  }
  return remarks;
}

function deadLetterText(outcome: DeadLetteredOutcome, options: LineOptions): string {
  const command = options.deadLetterCommand?.(outcome.queue);
  return `FAILED: dead letter in ${outcome.queue} after ${outcome.attempts} attempt(s): ${errorSummary(outcome.error)}${command ? ` (${command})` : ""}`;
}

export function messageLine(detail: DecisionDetail, outcomes: readonly Outcome[], doneAt: Date, options: LineOptions = {}): string {
  const entries = actionsByRecipient(detail);
  const shown = entries.slice(0, LOG_LINE_MAX_RECIPIENTS).map(([recipient, actions]) => `${recipient}: ${actions.join(", ")}`);
  const more = entries.length > LOG_LINE_MAX_RECIPIENTS ? ` (+${entries.length - LOG_LINE_MAX_RECIPIENTS} more)` : "";
  const remarks = remarksOf(outcomes);
  const failures = outcomes
    .filter((outcome): outcome is DeadLetteredOutcome => outcome.kind === "dead-lettered")
    .map((outcome) => ` — ${deadLetterText(outcome, options)}`);
  const elapsed = Math.max(0, doneAt.getTime() - Date.parse(detail.timestamp));
  const bracket = remarks.length > 0 ? ` [${remarks.join("; ")}]` : "";
  return `${timeOfDay(doneAt)} ${detail.originalMessageId} ${detail.source || "<>"} → ${shown.join("; ")}${more}${bracket}${failures.join("")} (${elapsed} ms)`;
}

/** A dead letter of a message that has no decision (the input queue gave up on it before routing). */
export function deadLetterLine(outcome: DeadLetteredOutcome, options: LineOptions = {}): string {
  return `${timeOfDay(new Date(outcome.at))} ${outcome.messageId} ${deadLetterText(outcome, options)}`;
}

function delayText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 90_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** Why an attempt failed, in words for the conditions an operator meets in normal life. */
function attemptFailure(error: OutcomeError): string {
  if (error.code === ErrorCode.DeliveryInProgress) return "delivery in progress: an attempt the last stop interrupted still holds its lock";
  return errorSummary(error);
}

/** One line for an attempt that failed and will be retried. `what` names the message (its id) or the queue message. */
export function retryLine(at: Date, what: string, stage: string, error: OutcomeError, attempt: number, delayMs: number): string {
  return `${timeOfDay(at)} ${what} ${stage} attempt ${attempt} failed, retrying in ${delayText(delayMs)}: ${attemptFailure(error)}`;
}
