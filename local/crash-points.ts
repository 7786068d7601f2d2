/**
 * Fault injection for the crash-and-restart tests: with `SES_MAIL_LOCAL_CRASH_AT=<point>` in the
 * environment, local mode kills itself with SIGKILL (no cleanup, no flush: a real crash) the first time
 * it reaches that point. Unset, every call is a no-op. Points:
 * - `accepted`: just after the SMTP 250 reply, before the message is routed;
 * - `imported`: the Maildir file is written, the forwarder's idempotency record of it not yet completed;
 * - `forwarded`: after the forwarder handled a batch, before the queue forgot it.
 *
 * `SES_MAIL_LOCAL_DELIVERY_LOCK_MS` shortens how long a delivery a crash interrupted stays locked (and
 * how long the forwarder and bouncer wait before a retry), so a test of that window need not wait the
 * real 30 seconds. Not for anything but tests.
 */
export const CRASH_POINT_VARIABLE = "SES_MAIL_LOCAL_CRASH_AT";
export const CRASH_POINTS = ["accepted", "imported", "forwarded"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];
export const DELIVERY_LOCK_VARIABLE = "SES_MAIL_LOCAL_DELIVERY_LOCK_MS";

export function crashPoint(point: CrashPoint, env: NodeJS.ProcessEnv = process.env): void {
  if (env[CRASH_POINT_VARIABLE] !== point) return;
  // Synchronous: nothing after this point may run. A reply written just before is already in the
  // kernel (Node writes to a socket synchronously when it can), so the client still receives it.
  process.kill(process.pid, "SIGKILL");
}

/** The delivery lock a test asked for, or `fallback`. */
export function deliveryLockMs(fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env[DELIVERY_LOCK_VARIABLE]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}
