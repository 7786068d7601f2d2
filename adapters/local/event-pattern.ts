/**
 * The EventBridge event-pattern matcher of local mode, so it routes decisions with the very pattern
 * objects the infrastructure deploys (core/event-patterns.ts). It knows exactly what those patterns use,
 * with EventBridge's semantics (AWS's documentation, aws/event-ruler):
 * - fields at one level are ANDed, a nested object matches the event's object at that field, and the
 *   values in a field's list are ORed;
 * - an exact value matches an equal event value of the same JSON type (`5` never matches `"5"`);
 * - `{ "numeric": [op, n] }` or `[op, n, op, n]` (op `=`, `<`, `<=`, `>`, `>=`) matches numbers only;
 * - an event array at a matched field matches when any of its elements does (an array of objects
 *   under a nested pattern, which no deployed pattern meets, does not match).
 * Every other operator (`prefix`, `anything-but`, `exists`, `wildcard`, `$or`, …) is refused when the
 * pattern is compiled, with an error that names it: a pattern this matcher cannot judge must never
 * silently match nothing. Add an operator here when a deployed pattern starts to use it.
 */
import type { EventPattern } from "../../core/event-patterns";

export class InvalidEventPatternError extends Error {
  constructor(path: string, reason: string) {
    super(`invalid event pattern at ${path || "(root)"}: ${reason}`);
    this.name = "InvalidEventPatternError";
  }
}

type ValueTest = (value: unknown) => boolean;
type ObjectTest = (event: unknown) => boolean;

const NUMERIC_OPERATORS = ["=", "<", "<=", ">", ">="] as const;
type NumericOperator = (typeof NUMERIC_OPERATORS)[number];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function compare(operator: NumericOperator, value: number, bound: number): boolean {
  switch (operator) {
    case "=":
      return value === bound;
    case "<":
      return value < bound;
    case "<=":
      return value <= bound;
    case ">":
      return value > bound;
    case ">=":
      return value >= bound;
  }
}

function numericTest(path: string, argument: unknown): ValueTest {
  if (!Array.isArray(argument) || (argument.length !== 2 && argument.length !== 4)) {
    throw new InvalidEventPatternError(path, 'numeric takes one or two [operator, number] pairs, e.g. [">", 0, "<=", 5]');
  }
  const checks: Array<{ operator: NumericOperator; bound: number }> = [];
  for (let i = 0; i < argument.length; i += 2) {
    const operator = argument[i] as NumericOperator;
    const bound: unknown = argument[i + 1];
    if (!NUMERIC_OPERATORS.includes(operator))
      throw new InvalidEventPatternError(path, `unknown numeric operator ${JSON.stringify(operator)}`);
    if (typeof bound !== "number" || !Number.isFinite(bound))
      throw new InvalidEventPatternError(path, "a numeric bound must be a finite number");
    if (operator === "=" && argument.length > 2) throw new InvalidEventPatternError(path, '"=" cannot be combined with a range');
    checks.push({ operator, bound });
  }
  return (value) => typeof value === "number" && checks.every(({ operator, bound }) => compare(operator, value, bound));
}

function compileValue(path: string, matcher: unknown): ValueTest {
  if (matcher === null || typeof matcher === "string" || typeof matcher === "number" || typeof matcher === "boolean") {
    return (value) => value === matcher;
  }
  if (!isPlainObject(matcher) || Object.keys(matcher).length !== 1) {
    throw new InvalidEventPatternError(
      path,
      `a value matcher is a string, number, boolean, null or { "numeric": [...] }; got ${JSON.stringify(matcher)}`,
    );
  }
  const [operator, argument] = Object.entries(matcher)[0]!;
  if (operator === "numeric") return numericTest(path, argument);
  throw new InvalidEventPatternError(
    path,
    `the operator ${JSON.stringify(operator)} is not supported by local mode's matcher, which knows exact values and "numeric" (what core/event-patterns.ts uses)`,
  );
}

function compileObject(path: string, pattern: unknown): ObjectTest {
  if (!isPlainObject(pattern)) throw new InvalidEventPatternError(path, "a pattern level must be an object");
  const fieldTests: ObjectTest[] = [];
  for (const [key, value] of Object.entries(pattern)) {
    const where = path ? `${path}.${key}` : key;
    if (key.startsWith("$")) throw new InvalidEventPatternError(where, `${key} is not supported by local mode's matcher`);
    if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidEventPatternError(where, "a list of values must not be empty");
      const matchers = value.map((matcher, index) => compileValue(`${where}[${index}]`, matcher));
      fieldTests.push((event) => {
        const field = isPlainObject(event) ? event[key] : undefined;
        const values = Array.isArray(field) ? field : [field];
        return values.some((item) => item !== undefined && !isPlainObject(item) && matchers.some((test) => test(item)));
      });
    } else if (isPlainObject(value)) {
      const nested = compileObject(where, value);
      fieldTests.push((event) => isPlainObject(event) && nested(event[key]));
    } else {
      throw new InvalidEventPatternError(where, "must be a list of values or a nested object");
    }
  }
  if (fieldTests.length === 0) throw new InvalidEventPatternError(path, "an empty object matches nothing useful");
  return (event) => isPlainObject(event) && fieldTests.every((test) => test(event));
}

/** Validates a pattern once and returns a predicate over events. Throws InvalidEventPatternError. */
export function compileEventPattern(pattern: EventPattern): (event: unknown) => boolean {
  return compileObject("", pattern);
}

/** One-off match; prefer compileEventPattern for a pattern used many times. */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}
