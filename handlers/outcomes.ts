/**
 * How a handler reports what it did with a message: one call per outcome (core/outcomes.ts), which logs
 * the outcome's line, adds its metrics and hands it to the injected sink (local mode's console line, a
 * test). Handlers never log or count an outcome any other way, so the log text is for people only and
 * nothing downstream depends on it.
 */
import { describeOutcome, type Outcome } from "../core/outcomes";
import type { OutcomeSink } from "../core/ports";
import type { Observability } from "./observability";

/** Reports one outcome; `error`, when given, is logged with its stack (it is not part of the outcome). */
export type ReportOutcome = (outcome: Outcome, error?: unknown) => void;

export function createOutcomeReporter(observability: Observability, sink?: OutcomeSink): ReportOutcome {
  const { logger, metrics } = observability;
  return (outcome, error) => {
    const line = describeOutcome(outcome);
    const attributes = error instanceof Error ? { ...line.attributes, stack: error.stack } : line.attributes;
    logger[line.level](line.message, attributes);
    for (const metric of line.metrics) metrics.addMetric(metric.name, metric.unit, metric.value);
    sink?.record(outcome);
  };
}

/**
 * A reporter for one record that also keeps what it reported, so the handler can record the record's
 * outcomes in the message record in one write (handlers/raw-message.ts).
 */
export function collectingReporter(report: ReportOutcome): { readonly report: ReportOutcome; readonly outcomes: Outcome[] } {
  const outcomes: Outcome[] = [];
  return {
    outcomes,
    report: (outcome, error) => {
      report(outcome, error);
      outcomes.push(outcome);
    },
  };
}
