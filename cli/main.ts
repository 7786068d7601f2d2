/**
 * `ses-mail`: every command, one table. Each command group lives in its own file and keeps its
 * heavy imports (Pulumi, smtp-server, …) inside `run`, so a quick command starts quickly.
 */
import { runCli, type Command } from "./framework";
import { DLQ_COMMANDS } from "./dlq";
import { DNS_COMMANDS } from "./dns";
import { LOCAL_COMMANDS } from "./local";
import { OAUTH_COMMANDS } from "./oauth";
import { ROUTE_COMMANDS } from "./route";
import { RULES_COMMANDS } from "./rules";
import { SMTP_PASSWORD_COMMANDS } from "./smtp-password";
import { SMTP_USER_COMMANDS } from "./smtp-users";
import { STATUS_COMMANDS } from "./status";
import { SYNTH_COMMANDS } from "./synth";
import { TRACE_COMMANDS } from "./trace";

export const COMMANDS: readonly Command[] = [
  ...RULES_COMMANDS,
  ...ROUTE_COMMANDS,
  ...LOCAL_COMMANDS,
  ...OAUTH_COMMANDS,
  ...DNS_COMMANDS,
  ...SYNTH_COMMANDS,
  ...STATUS_COMMANDS,
  ...TRACE_COMMANDS,
  ...DLQ_COMMANDS,
  ...SMTP_USER_COMMANDS,
  ...SMTP_PASSWORD_COMMANDS,
];

export async function main(argv: readonly string[]): Promise<number> {
  return runCli(COMMANDS, argv);
}
