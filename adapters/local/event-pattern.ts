/**
 * A small EventBridge event-pattern matcher, so local mode routes decisions with the very pattern
 * objects the infrastructure deploys (core/event-patterns.ts).
 *
 * Semantics follow AWS's documentation and aws/event-ruler:
 * - fields at one level are ANDed; the values in a field's array are ORed;
 * - an event array matches when any of its elements matches (objects in arrays are matched element by
 *   element, so two fields never match across different elements: event-ruler's `rulesForJSONEvent`);
 * - exact values compare by JSON type (`5` never matches `"5"`); number literals compare numerically;
 * - `prefix`, `suffix`, `equals-ignore-case`, `wildcard` match strings only; `numeric` matches numbers only;
 * - `exists` looks at leaf fields only (an object-valued field counts as absent);
 * - `anything-but` needs a value to be present: a missing field never matches it;
 * - `$or` with two or more objects ORs whole sub-patterns.
 * An operator this matcher does not know (e.g. `cidr`) is refused when the pattern is compiled, so a
 * pattern can never silently match nothing.
 */
import type { EventPattern } from "../../core/event-patterns";

export class InvalidEventPatternError extends Error {
  constructor(path: string, reason: string) {
    super(`invalid event pattern at ${path || "(root)"}: ${reason}`);
    this.name = "InvalidEventPatternError";
  }
}

/** A present leaf value, or none (field missing, or an object: exists matching works on leaves only). */
type Leaf = { present: false } | { present: true; values: readonly unknown[] };
type LeafTest = (leaf: Leaf) => boolean;
type ObjectTest = (value: unknown) => boolean;

const NUMERIC_OPERATORS = ["=", "<", "<=", ">", ">="] as const;
type NumericOperator = (typeof NUMERIC_OPERATORS)[number];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Scalars of an event value, flattening nested arrays; objects are not leaf values. */
function leafOf(value: unknown): Leaf {
  if (value === undefined || isPlainObject(value)) return { present: false };
  if (!Array.isArray(value)) return { present: true, values: [value] };
  const values = (value as unknown[]).flat(Infinity).filter((item) => !isPlainObject(item));
  return values.length > 0 ? { present: true, values } : { present: false };
}

function someValue(leaf: Leaf, test: (value: unknown) => boolean): boolean {
  return leaf.present && leaf.values.some(test);
}

function stringTest(path: string, operator: string, argument: unknown): (text: string) => boolean {
  if (operator === "equals-ignore-case") {
    if (typeof argument !== "string") throw new InvalidEventPatternError(path, `${operator} takes a string`);
    const wanted = argument.toLowerCase();
    return (text) => text.toLowerCase() === wanted;
  }
  if (operator === "prefix" || operator === "suffix") {
    if (typeof argument === "string") {
      return operator === "prefix" ? (text) => text.startsWith(argument) : (text) => text.endsWith(argument);
    }
    if (isPlainObject(argument) && Object.keys(argument).length === 1 && typeof argument["equals-ignore-case"] === "string") {
      const wanted = (argument["equals-ignore-case"] as string).toLowerCase();
      return operator === "prefix"
        ? (text) => text.toLowerCase().startsWith(wanted)
        : (text) => text.toLowerCase().endsWith(wanted);
    }
    throw new InvalidEventPatternError(path, `${operator} takes a string or { "equals-ignore-case": string }`);
  }
  if (operator === "wildcard") {
    if (typeof argument !== "string") throw new InvalidEventPatternError(path, "wildcard takes a string");
    const regex = wildcardRegex(path, argument);
    return (text) => regex.test(text);
  }
  throw new InvalidEventPatternError(path, `unsupported operator ${JSON.stringify(operator)}`);
}

/** `*` matches any run of characters; `\*` is a star and `\\` a backslash; `**` is not allowed. */
function wildcardRegex(path: string, pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "\\") {
      const next = pattern[i + 1];
      if (next !== "*" && next !== "\\") throw new InvalidEventPatternError(path, "in a wildcard, a backslash escapes only * or \\");
      source += `\\${next}`;
      i++;
    } else if (char === "*") {
      if (pattern[i + 1] === "*") throw new InvalidEventPatternError(path, "a wildcard cannot have two consecutive *");
      source += "[\\s\\S]*";
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`, "u");
}

function numericTest(path: string, argument: unknown): (value: number) => boolean {
  if (!Array.isArray(argument) || argument.length === 0 || argument.length % 2 !== 0 || argument.length > 4) {
    throw new InvalidEventPatternError(path, 'numeric takes one or two [operator, number] pairs, e.g. [">", 0, "<=", 5]');
  }
  const checks: Array<(value: number) => boolean> = [];
  for (let i = 0; i < argument.length; i += 2) {
    const operator = argument[i] as NumericOperator;
    const bound = argument[i + 1];
    if (!NUMERIC_OPERATORS.includes(operator)) throw new InvalidEventPatternError(path, `unknown numeric operator ${JSON.stringify(operator)}`);
    if (typeof bound !== "number" || !Number.isFinite(bound)) throw new InvalidEventPatternError(path, "a numeric bound must be a finite number");
    if (operator === "=" && argument.length > 2) throw new InvalidEventPatternError(path, '"=" cannot be combined with a range');
    checks.push(
      {
        "=": (value: number) => value === bound,
        "<": (value: number) => value < bound,
        "<=": (value: number) => value <= bound,
        ">": (value: number) => value > bound,
        ">=": (value: number) => value >= bound,
      }[operator],
    );
  }
  return (value) => checks.every((check) => check(value));
}

function anythingButTest(path: string, argument: unknown): LeafTest {
  if (typeof argument === "string" || typeof argument === "number") {
    return (leaf) => someValue(leaf, (value) => value !== argument);
  }
  if (Array.isArray(argument)) {
    const excluded: readonly unknown[] = argument;
    const kinds = new Set(excluded.map((item) => typeof item));
    if (kinds.size !== 1 || !(kinds.has("string") || kinds.has("number"))) {
      throw new InvalidEventPatternError(path, "anything-but takes a list of only strings or only numbers");
    }
    return (leaf) => someValue(leaf, (value) => !excluded.includes(value));
  }
  if (isPlainObject(argument) && Object.keys(argument).length === 1) {
    const [operator, inner] = Object.entries(argument)[0]!;
    if (operator === "equals-ignore-case" && Array.isArray(inner)) {
      if (!inner.every((item) => typeof item === "string")) throw new InvalidEventPatternError(path, "equals-ignore-case takes strings");
      const excluded = inner.map((item) => item.toLowerCase());
      return (leaf) => someValue(leaf, (value) => typeof value === "string" && !excluded.includes(value.toLowerCase()));
    }
    const test = stringTest(path, operator, inner);
    return (leaf) => someValue(leaf, (value) => typeof value === "string" && !test(value));
  }
  throw new InvalidEventPatternError(path, "anything-but takes a value, a list, or { prefix | suffix | equals-ignore-case | wildcard }");
}

function compileMatcher(path: string, matcher: unknown): LeafTest {
  if (matcher === null || typeof matcher === "string" || typeof matcher === "boolean") {
    return (leaf) => someValue(leaf, (value) => value === matcher);
  }
  if (typeof matcher === "number") {
    return (leaf) => someValue(leaf, (value) => typeof value === "number" && value === matcher);
  }
  if (!isPlainObject(matcher) || Object.keys(matcher).length !== 1) {
    throw new InvalidEventPatternError(path, `a value matcher is a string, number, boolean, null or an object with one operator; got ${JSON.stringify(matcher)}`);
  }
  const [operator, argument] = Object.entries(matcher)[0]!;
  switch (operator) {
    case "exists":
      if (typeof argument !== "boolean") throw new InvalidEventPatternError(path, "exists takes true or false");
      return (leaf) => leaf.present === argument;
    case "numeric": {
      const test = numericTest(path, argument);
      return (leaf) => someValue(leaf, (value) => typeof value === "number" && test(value));
    }
    case "anything-but":
      return anythingButTest(path, argument);
    default: {
      const test = stringTest(path, operator, argument);
      return (leaf) => someValue(leaf, (value) => typeof value === "string" && test(value));
    }
  }
}

function isOrClause(key: string, value: unknown): value is Array<Record<string, unknown>> {
  return key === "$or" && Array.isArray(value) && value.length >= 2 && value.every(isPlainObject);
}

function compileObject(path: string, pattern: unknown): ObjectTest {
  if (!isPlainObject(pattern)) throw new InvalidEventPatternError(path, "a pattern level must be an object");
  const fieldTests: ObjectTest[] = [];
  for (const [key, value] of Object.entries(pattern)) {
    const where = path ? `${path}.${key}` : key;
    if (isOrClause(key, value)) {
      const alternatives = value.map((alternative, index) => compileObject(`${where}[${index}]`, alternative));
      fieldTests.push((event) => alternatives.some((test) => test(event)));
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidEventPatternError(where, "a list of values must not be empty");
      const matchers = value.map((matcher, index) => compileMatcher(`${where}[${index}]`, matcher));
      fieldTests.push((event) => {
        const leaf = leafOf(isPlainObject(event) ? event[key] : undefined);
        return matchers.some((test) => test(leaf));
      });
    } else if (isPlainObject(value)) {
      const nested = compileObject(where, value);
      fieldTests.push((event) => nested(isPlainObject(event) ? event[key] : undefined));
    } else {
      throw new InvalidEventPatternError(where, "must be a list of values or a nested object");
    }
  }
  if (fieldTests.length === 0) throw new InvalidEventPatternError(path, "an empty object matches nothing useful");
  const all: ObjectTest = (event) => fieldTests.every((test) => test(event));
  // An array of objects matches when one element matches the whole level (array-consistent matching).
  return (event) => (Array.isArray(event) ? (event as unknown[]).flat(Infinity).some((element) => all(element)) : all(event));
}

/** Validates a pattern once and returns a predicate over events. Throws InvalidEventPatternError. */
export function compileEventPattern(pattern: EventPattern): (event: unknown) => boolean {
  return compileObject("", pattern);
}

/** One-off match; prefer compileEventPattern for a pattern used many times. */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}
