/**
 * Fault injection for the crash-and-restart tests: with `SES_MAIL_LOCAL_CRASH_AT=<point>` in the
 * environment, local mode kills itself with SIGKILL (no cleanup, no flush: a real crash) the first time
 * it reaches that point. Unset, every call is a no-op. Points:
 * - `accepted`: just after the SMTP 250 reply, before the message is routed;
 * - `forwarded`: after the forwarder handled a batch, before the queue forgot it.
 */
export const CRASH_POINT_VARIABLE = "SES_MAIL_LOCAL_CRASH_AT";
export const CRASH_POINTS = ["accepted", "forwarded"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(point: CrashPoint, env: NodeJS.ProcessEnv = process.env): void {
  if (env[CRASH_POINT_VARIABLE] !== point) return;
  // Synchronous: nothing after this point may run. A reply written just before is already in the
  // kernel (Node writes to a socket synchronously when it can), so the client still receives it.
  process.kill(process.pid, "SIGKILL");
}
