/**
 * SSM Parameter Store names, shared by the infrastructure (which creates placeholders and grants
 * access), the Lambdas (which read them) and the CLI (which writes them).
 *
 * One Google OAuth client per stack; one refresh token per Gmail account, because every account a
 * rule forwards to must consent on its own. SSM names allow only `a-zA-Z0-9_.-/`, so accounts are
 * encoded by accountParameterKey.
 */

/** Value Pulumi writes into parameters it creates; the CLI replaces it. Never a usable secret. */
export const PARAMETER_PLACEHOLDER = "PLACEHOLDER: set with ses-mail";

/** `/ses-mail/{env}`: every parameter of a stack lives under it. */
export function parameterRoot(environment: string): string {
  return `/ses-mail/${environment}`;
}

/** SecureString: the Google OAuth client JSON as downloaded from the Cloud console (`{"installed": {...}}`). */
export function oauthClientParameter(environment: string): string {
  return `${parameterRoot(environment)}/gmail/oauth-client`;
}

/** Prefix of the per-account refresh tokens (SecureString JSON `{ refresh_token, created_at, expires_at }`). */
export function refreshTokenPrefix(environment: string): string {
  return `${parameterRoot(environment)}/gmail/tokens/`;
}

/** Prefix of the per-account token metadata (String JSON `{ created_at, expires_at, expires_at_epoch }`), read by the token monitor. */
export function tokenMetadataPrefix(environment: string): string {
  return `${parameterRoot(environment)}/gmail/token-metadata/`;
}

/**
 * A Gmail address as an SSM name segment: lower-cased; `@` becomes `_at_`; any other character
 * outside `a-z0-9.-` becomes `_xx` (its code point in hex), so distinct addresses stay distinct.
 */
export function accountParameterKey(account: string): string {
  const lower = account.trim().toLowerCase();
  let key = "";
  for (const char of lower) {
    if (char === "@") key += "_at_";
    else if (/[a-z0-9.-]/.test(char)) key += char;
    else key += `_${char.codePointAt(0)!.toString(16)}`;
  }
  return key;
}

export function refreshTokenParameter(environment: string, account: string): string {
  return `${refreshTokenPrefix(environment)}${accountParameterKey(account)}`;
}

export function tokenMetadataParameter(environment: string, account: string): string {
  return `${tokenMetadataPrefix(environment)}${accountParameterKey(account)}`;
}
