/**
 * Local mode's SSM Parameter Store, for running with real Gmail (`ses-mail local --gmail-secrets FILE`):
 * a JSON object keyed by the very parameter names the stack uses (core/parameters.ts), e.g.
 * `{ "/ses-mail/test/gmail/oauth-client": {"installed": {…}}, "/ses-mail/test/gmail/tokens/me_at_gmail.com": {"refresh_token": "…"} }`.
 * A value may be the parameter's text or, for JSON parameters, the JSON itself. The file is read on
 * every lookup (the OAuth adapter caches), so a token refreshed in the file is picked up without a restart.
 */
import * as fs from "node:fs";
import { SecretUnavailableError } from "../../core/errors";
import type { SecretStore } from "../../core/ports";

export class FileSecretStore implements SecretStore {
  constructor(private readonly file: string) {}

  /** Reads the file once, so a wrong path or broken JSON fails at start rather than at the first message. */
  check(): void {
    this.read();
  }

  private read(): Record<string, unknown> {
    const value: unknown = JSON.parse(fs.readFileSync(this.file, "utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw new Error(`${this.file} must hold a JSON object of parameter names to values`);
    return value as Record<string, unknown>;
  }

  async getSecret(name: string): Promise<string | undefined> {
    let values: Record<string, unknown>;
    try {
      values = this.read();
    } catch (error) {
      throw new SecretUnavailableError(name, { cause: error });
    }
    const value = values[name];
    if (value === undefined || value === null) return undefined;
    return typeof value === "string" ? value : JSON.stringify(value);
  }
}
