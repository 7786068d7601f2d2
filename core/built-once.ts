/**
 * A value built once per process and then reused: the zod schemas above all. zod 4 compiles a schema
 * on its first parse (about a millisecond for the OAuth client's), so a schema built on every call paid
 * that on every message, in Lambda and in local mode.
 *
 * They cannot simply be module-level constants: Pulumi serializes a handler's own modules by value, and
 * a built schema does not survive serialization ("bound _parse … Could not find [[Scopes]]", NOTES.md).
 * So the value is built on first use and kept on the global object under a registered symbol, which
 * serialization never captures: a deployed function starts with nothing built, whatever the deploying
 * process had built.
 */
const STORE = "ses-mail.built-once";

/** The value `build` returns, built on the first call with this `key` in this process. Keys are `module:name`. */
export function builtOnce<T>(key: string, build: () => T): T {
  const global = globalThis as unknown as Record<symbol, Map<string, unknown> | undefined>;
  const store = (global[Symbol.for(STORE)] ??= new Map<string, unknown>());
  if (!store.has(key)) store.set(key, build());
  return store.get(key) as T;
}
