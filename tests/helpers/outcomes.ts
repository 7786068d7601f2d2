/** An OutcomeSink that keeps what handlers report, for assertions on outcomes rather than on log text. */
import type { Outcome, OutcomeKind, OutcomeOf } from "../../core/outcomes";
import type { OutcomeSink } from "../../core/ports";

export class RecordedOutcomes implements OutcomeSink {
  readonly all: Outcome[] = [];

  record(outcome: Outcome): void {
    this.all.push(outcome);
  }

  /** The outcomes of one kind, in the order they were reported. */
  ofKind<K extends OutcomeKind>(kind: K): OutcomeOf<K>[] {
    return this.all.filter((outcome): outcome is OutcomeOf<K> => outcome.kind === kind);
  }

  /** The kinds in report order: a compact picture of what happened. */
  kinds(): OutcomeKind[] {
    return this.all.map((outcome) => outcome.kind);
  }
}
