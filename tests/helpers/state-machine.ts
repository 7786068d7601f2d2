/**
 * Just enough of AWS Step Functions to run ses-mail's own state machine definitions (components/
 * workflows.ts) in a test, in virtual time: JSONata `{% … %}` templates for Arguments, Output, Assign and
 * Conditions; Pass, Task, Choice, Map (items one after another), Parallel, Succeed and Fail; Retry with
 * interval and backoff (the waits advance the virtual clock) and Catch with `$states.errorOutput`.
 * Task resources are functions the test provides, keyed by their ARN.
 */
import { errorMessage } from "../../core/errors";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- jsonata's default export is the factory itself
const jsonata = require("jsonata") as (expression: string) => JsonataExpression;

interface JsonataExpression {
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
}

/**
 * Each expression compiled once: a simulation runs the same definition hundreds of times, and compiling
 * was most of its time. A compiled expression keeps no state between evaluations (bindings are per call).
 */
const compiled = new Map<string, JsonataExpression>();
function compile(expression: string): JsonataExpression {
  let found = compiled.get(expression);
  if (!found) {
    found = jsonata(expression);
    compiled.set(expression, found);
  }
  return found;
}

/** A clock tests move by hand: every wait in the simulation advances it. */
export class VirtualClock {
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  date(): Date {
    return new Date(this.current);
  }
  advance(seconds: number): void {
    this.current += seconds * 1000;
  }
  set(epochMs: number): void {
    if (epochMs < this.current) throw new Error("the virtual clock does not go back");
    this.current = epochMs;
  }
}

/** What a Task resource does with its evaluated Arguments. */
export type TaskResource = (args: Record<string, unknown>) => Promise<unknown>;

/** An error as a state machine sees it. */
export class StateMachineError extends Error {
  readonly error: string;
  readonly detail: string;

  constructor(error: string, detail: string) {
    super(`${error}: ${detail}`);
    this.name = "StateMachineError";
    this.error = error;
    this.detail = detail;
  }
}

type State = Record<string, unknown> & { Type: string };
type States = Record<string, State>;
interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxAttempts?: number;
}
interface Catcher {
  ErrorEquals: string[];
  Next: string;
  Output?: unknown;
}

interface Scope {
  readonly clock: VirtualClock;
  readonly resources: Readonly<Record<string, TaskResource>>;
  readonly variables: Record<string, unknown>;
}

/** Evaluates `{% … %}` templates in a value (deeply) as Step Functions would, with `$states` and the variables bound. */
export async function evaluateTemplate(
  value: unknown,
  states: Record<string, unknown>,
  variables: Record<string, unknown> = {},
): Promise<unknown> {
  if (typeof value === "string") {
    const match = /^\{%([\s\S]+)%\}$/.exec(value.trim());
    return match ? compile(match[1]!.trim()).evaluate({}, { ...variables, states }) : value;
  }
  if (Array.isArray(value)) return Promise.all(value.map((item) => evaluateTemplate(item, states, variables)));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = await evaluateTemplate(item, states, variables);
    return out;
  }
  return value;
}

function matches(errorEquals: readonly string[], error: string): boolean {
  return errorEquals.includes("States.ALL") || errorEquals.includes(error);
}

function asStateError(caught: unknown): StateMachineError {
  if (caught instanceof StateMachineError) return caught;
  return new StateMachineError("States.TaskFailed", errorMessage(caught));
}

/** Runs the work of a Task, Map or Parallel state with its Retry policy; the waits advance the clock. */
async function withRetry(state: State, scope: Scope, work: () => Promise<unknown>): Promise<unknown> {
  const attempts = new Map<Retrier, number>();
  for (;;) {
    try {
      return await work();
    } catch (caught) {
      const error = asStateError(caught);
      const retrier = ((state.Retry as Retrier[] | undefined) ?? []).find((entry) => matches(entry.ErrorEquals, error.error));
      const done = retrier ? (attempts.get(retrier) ?? 0) : 0;
      if (!retrier || done >= (retrier.MaxAttempts ?? 3)) throw error;
      scope.clock.advance((retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done);
      attempts.set(retrier, done + 1);
    }
  }
}

async function runStates(states: States, startAt: string, input: unknown, scope: Scope): Promise<unknown> {
  let name = startAt;
  let current = input;
  for (;;) {
    const state = states[name];
    if (!state) throw new Error(`no state ${name}`);
    const context = (extra: Record<string, unknown> = {}) => ({ input: current, ...extra });
    let output: unknown;
    let next = state.Next as string | undefined;
    switch (state.Type) {
      case "Pass":
        if (state.Assign) Object.assign(scope.variables, await evaluateTemplate(state.Assign, context(), scope.variables));
        output = state.Output !== undefined ? await evaluateTemplate(state.Output, context(), scope.variables) : current;
        break;
      case "Choice": {
        next = state.Default as string | undefined;
        for (const choice of state.Choices as Array<{ Condition: string; Next: string }>) {
          if (await evaluateTemplate(choice.Condition, context(), scope.variables)) {
            next = choice.Next;
            break;
          }
        }
        output = current;
        break;
      }
      case "Succeed":
        return current;
      case "Fail":
        throw new StateMachineError(String(state.Error ?? "States.Fail"), String(state.Cause ?? ""));
      case "Task":
      case "Map":
      case "Parallel": {
        let result: unknown;
        try {
          result = await withRetry(state, scope, async () => {
            if (state.Type === "Task") {
              const resource = scope.resources[state.Resource as string];
              if (!resource) throw new Error(`no resource ${String(state.Resource)}`);
              const args = (await evaluateTemplate(state.Arguments ?? {}, context(), scope.variables)) as Record<string, unknown>;
              return resource(args);
            }
            if (state.Type === "Map") {
              const items = (await evaluateTemplate(state.Items, context(), scope.variables)) as unknown[];
              const processor = state.ItemProcessor as { StartAt: string; States: States };
              const results: unknown[] = [];
              for (const item of items)
                results.push(await runStates(processor.States, processor.StartAt, item, { ...scope, variables: { ...scope.variables } }));
              return results;
            }
            const results: unknown[] = [];
            for (const branch of state.Branches as Array<{ StartAt: string; States: States }>) {
              results.push(await runStates(branch.States, branch.StartAt, current, { ...scope, variables: { ...scope.variables } }));
            }
            return results;
          });
        } catch (caught) {
          const error = asStateError(caught);
          const catcher = ((state.Catch as Catcher[] | undefined) ?? []).find((entry) => matches(entry.ErrorEquals, error.error));
          if (!catcher) throw error;
          const errorOutput = { Error: error.error, Cause: error.detail };
          current =
            catcher.Output !== undefined ? await evaluateTemplate(catcher.Output, context({ errorOutput }), scope.variables) : errorOutput;
          name = catcher.Next;
          continue;
        }
        if (state.Assign) Object.assign(scope.variables, await evaluateTemplate(state.Assign, context({ result }), scope.variables));
        output = state.Output !== undefined ? await evaluateTemplate(state.Output, context({ result }), scope.variables) : result;
        break;
      }
      default:
        throw new Error(`state type ${state.Type} is not simulated`);
    }
    if (state.End === true || next === undefined) return output;
    name = next;
    current = output;
  }
}

/** Runs one execution of a definition to its end; a failed execution throws StateMachineError. */
export async function runExecution(
  definition: Record<string, unknown>,
  input: unknown,
  resources: Readonly<Record<string, TaskResource>>,
  clock: VirtualClock,
): Promise<unknown> {
  return runStates(definition.States as States, definition.StartAt as string, input, { clock, resources, variables: {} });
}
