/**
 * `ses-mail oauth …`: store the stack's Google OAuth client, authorize a Gmail account (a refresh
 * token per account, stored in SSM with its expiry metadata, then the retry queue replayed), and show
 * how long each token has left.
 */
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DescribeParametersCommand, GetParameterCommand, PutParameterCommand, SSMClient, type ParameterType } from "@aws-sdk/client-ssm";
import { DynamoDbRuleStore } from "../adapters/aws/dynamodb-rules";
import { canonicalize, parseAddress } from "../core/addresses";
import { errorMessage } from "../core/errors";
import {
  accountParameterKey,
  oauthClientParameter,
  PARAMETER_PLACEHOLDER,
  refreshTokenParameter,
  tokenMetadataParameter,
} from "../core/parameters";
import { createRuleCodec } from "../core/rules";
import { openBrowser } from "./browser";
import { formatTable, JSON_OPTION, UserError, type Command, type CommandContext, type Output } from "./framework";
import {
  canManageLabels,
  GMAIL_INSERT_SCOPE,
  parseOAuthClient,
  serializeStoredRefreshToken,
  type OAuthClientCredentials,
} from "../adapters/gmail/credentials";
import { GOOGLE_ENDPOINTS } from "../adapters/gmail/oauth";
import {
  CONSENT_TIMEOUT_MS,
  CREDENTIALS_CONSOLE_URL,
  parseClientFile,
  sameGoogleAccount,
  startConsent,
  startLoopback,
  type GoogleEndpoints,
} from "./oauth-flow";
import { DEFAULT_FOLLOW, replayRetryQueue, type FollowOptions } from "./retry-replay";
import {
  describeExpiry,
  describeMonitorValue,
  ExpiryBasis,
  formatDuration,
  queueDepth,
  readMonitorValues,
  readTokenMetadata,
} from "./stack-health";
import { aws, awsErrorName, resolveStack, STACK_OPTIONS, STACK_USAGE, type StackTarget } from "./stack-target";

/** Google expires refresh tokens of apps whose publishing status is "Testing" 7 days after consent. */
export const TESTING_TOKEN_LIFETIME_SECONDS = 7 * 24 * 60 * 60;
/**
 * An app "In production" gets refresh tokens without a fixed lifetime, but Google drops one that goes
 * unused for six months, and a Gmail account that receives no forwarded mail never uses its token. The
 * token monitor needs a date (no date reads as "unknown" and raises the critical alarm), so ses-mail
 * records one 180 days ahead: the alarms then ask for a one-minute re-consent before that limit.
 */
export const PRODUCTION_TOKEN_REVIEW_SECONDS = 180 * 24 * 60 * 60;

/** What the commands take from outside, so a test can play Google, the browser and the clock. */
export interface OAuthDeps {
  readonly google: GoogleEndpoints;
  /** Opens the URL in a browser; returns whether one was started. */
  readonly openBrowser: (url: string, env: NodeJS.ProcessEnv) => Promise<boolean>;
  readonly consentTimeoutMs: number;
  readonly follow: FollowOptions;
  readonly now: () => Date;
}

export const DEFAULT_OAUTH_DEPS: OAuthDeps = {
  google: GOOGLE_ENDPOINTS,
  openBrowser,
  consentTimeoutMs: CONSENT_TIMEOUT_MS,
  follow: DEFAULT_FOLLOW,
  now: () => new Date(),
};

function ssmClient(target: StackTarget): SSMClient {
  return new SSMClient(target.clientConfig("SSM"));
}

/**
 * Writes a parameter's value and nothing else about it. Pulumi creates the stack's parameters with
 * `ignoreChanges: ["value"]`; a changed description would show up as drift on the next
 * `pulumi up --refresh`, and the update that follows re-sends Pulumi's placeholder value. So an
 * existing parameter keeps its description, and only a parameter the CLI creates gets one.
 */
async function putParameterValue(
  ssm: SSMClient,
  target: StackTarget,
  args: { name: string; value: string; type: ParameterType; description: string },
): Promise<void> {
  let description: string | undefined = args.description;
  try {
    const found = await ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [args.name] }] }),
    );
    const existing = found?.Parameters?.find((parameter) => parameter.Name === args.name);
    if (existing) description = existing.Description;
  } catch (error) {
    // Without ssm:DescribeParameters the value is still written; the description is left as it is.
    if (!/AccessDenied/.test(awsErrorName(error) ?? "")) return aws(target, `SSM ${args.name}`, () => Promise.reject(error));
    description = undefined;
  }
  await aws(target, `SSM ${args.name}`, () =>
    ssm.send(
      new PutParameterCommand({
        Name: args.name,
        Value: args.value,
        Type: args.type,
        Overwrite: true,
        ...(description !== undefined ? { Description: description } : {}),
      }),
    ),
  );
}

function setClientHint(target: StackTarget): string {
  return `download the "Desktop app" OAuth client JSON from ${CREDENTIALS_CONSOLE_URL} and run \`ses-mail oauth set-client FILE --stack ${target.env}\` (docs/SETUP.md, step 1)`;
}

/** The stored OAuth client, or a UserError saying how to store one. */
async function readClient(ssm: SSMClient, target: StackTarget): Promise<OAuthClientCredentials> {
  const name = oauthClientParameter(target.env);
  let value: string | undefined;
  try {
    value = (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
  } catch (error) {
    if (awsErrorName(error) !== "ParameterNotFound") return aws(target, `SSM ${name}`, () => Promise.reject(error));
  }
  if (value === undefined || value.trim() === "" || value === PARAMETER_PLACEHOLDER) {
    throw new UserError(
      `the stack has no Google OAuth client yet (SSM ${name} ${value === undefined ? "does not exist" : "is the placeholder"}): ${setClientHint(target)}`,
    );
  }
  const client = parseOAuthClient(value);
  if (!client.ok) throw new UserError(`SSM ${name} ${client.problem}, so it holds no OAuth client: ${setClientHint(target)}`);
  return client.value;
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1024 || port > 65535)
    throw new UserError(`--port must be a whole number from 1024 to 65535, not ${JSON.stringify(text)}`);
  return port;
}

function parseWaitMinutes(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes < 1 || minutes > 24 * 60)
    throw new UserError(`--wait-minutes must be a number of minutes from 1 to 1440, not ${JSON.stringify(text)}`);
  return minutes * 60 * 1000;
}

function accountArgument(text: string | undefined): string {
  if (!text) throw new UserError("say which Gmail account to authorize: --account ADDRESS (the address a rule forwards to)");
  try {
    return parseAddress(text).address;
  } catch (error) {
    throw new UserError(`--account: ${errorMessage(error)}`);
  }
}

function setClient(): Command {
  return {
    name: "oauth set-client",
    summary: "Store the stack's Google OAuth client (the Desktop app JSON from the Cloud console) in SSM",
    usage: `ses-mail oauth set-client FILE ${STACK_USAGE}`,
    options: { ...STACK_OPTIONS },
    positionals: [1, 1],
    arguments: [["FILE", `the "Desktop app" OAuth client JSON downloaded from ${CREDENTIALS_CONSOLE_URL}`]],
    examples: ["ses-mail oauth set-client ~/Downloads/client_secret_1234.json --stack prod"],
    async run(context) {
      const file = context.positionals[0]!;
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch (error) {
        throw new UserError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
      const client = parseClientFile(text, file);
      const target = resolveStack(context);
      const name = oauthClientParameter(target.env);
      const ssm = ssmClient(target);
      try {
        await putParameterValue(ssm, target, {
          name,
          value: JSON.stringify(JSON.parse(text)),
          type: "SecureString",
          description: "Google OAuth client JSON for the Gmail API; set with the ses-mail CLI",
        });
      } finally {
        ssm.destroy();
      }
      context.out.line(`stored OAuth client ${client.clientId} in SSM ${name} (${target.description})`);
      context.out.line(
        `next: ses-mail oauth refresh --account ADDRESS --stack ${target.env}   (once per Gmail account a rule forwards to)`,
      );
    },
  };
}

async function authorize(
  context: CommandContext,
  deps: OAuthDeps,
  client: OAuthClientCredentials,
  account: string,
  port: number | undefined,
): Promise<{ refreshToken: string; scopes: readonly string[] }> {
  const { out } = context;
  const state = randomBytes(16).toString("base64url");
  const wait = formatDuration(deps.consentTimeoutMs / 1000);
  const loopback = await startLoopback({
    state,
    port,
    timeoutMs: deps.consentTimeoutMs,
    timeoutMessage:
      `no answer from the browser within ${wait}. Run the command again and open the URL in a browser on this machine. ` +
      `If Google showed "redirect_uri_mismatch" or "invalid_client", the stored client is wrong: ${CREDENTIALS_CONSOLE_URL} → Desktop app → ses-mail oauth set-client FILE. ` +
      "If the browser runs on another machine, forward the port first (ssh -L PORT:127.0.0.1:PORT host) and pass --port PORT",
  });
  try {
    const consent = await startConsent({ client, google: deps.google, redirectUri: loopback.redirectUri, state, loginHint: account });
    out.note(
      `Sign in as ${account} and allow ses-mail to "add emails into your Gmail mailbox" and "see and edit your email labels". Open this URL:`,
    );
    out.note("");
    out.note(`  ${consent.url}`);
    out.note("");
    const opened = context.values["no-browser"] === true ? false : await deps.openBrowser(consent.url, context.env);
    out.note(
      opened
        ? `(opened in your browser) waiting up to ${wait} for Google's redirect to ${loopback.redirectUri} …`
        : `no browser started here: open the URL yourself. From another machine, first run: ssh -L ${loopback.port}:127.0.0.1:${loopback.port} <this host>. Waiting up to ${wait} for ${loopback.redirectUri} …`,
    );
    const { code } = await loopback.result;
    out.note("authorization received; exchanging it for a refresh token");
    const grant = await consent.exchange(code);
    if (grant.scopes.length > 0 && !grant.scopes.includes(GMAIL_INSERT_SCOPE)) {
      throw new UserError(
        `${account} did not grant "Add emails into your Gmail mailbox" (granted: ${grant.scopes.join(" ")}): run the command again and tick that permission`,
      );
    }
    if (grant.email && !sameGoogleAccount(grant.email, account)) {
      throw new UserError(
        `you signed in as ${grant.email}, not ${account}: nothing was stored. Run the command again and choose ${account} in Google's account chooser`,
      );
    }
    if (!grant.email) out.note(`note: Google did not say which account signed in; make sure it was ${account}`);
    if (!canManageLabels(grant.scopes)) {
      out.note(
        `warning: ${account} did not allow "See and edit your email labels": mail is delivered, but rules' labels by name (--label Receipts) are not applied for it. ` +
          "Run the command again and tick that permission to have them",
      );
    }
    return { refreshToken: grant.refreshToken!, scopes: grant.scopes };
  } finally {
    await loopback.close();
  }
}

function refresh(deps: OAuthDeps): Command {
  return {
    name: "oauth refresh",
    summary: "Authorize a Gmail account (browser consent), store its refresh token, then replay the retry queue",
    usage: `ses-mail oauth refresh --account ADDRESS [--testing-app] [--no-browser] [--port N] [--no-replay] [--wait-minutes N] ${STACK_USAGE}`,
    options: {
      account: {
        type: "string",
        value: "ADDRESS",
        description: "the Gmail address to authorize: the one a rule forwards to (sign in as it)",
      },
      "testing-app": {
        type: "boolean",
        description: "the Google app is in Testing: record the 7-day expiry of its tokens",
        defaultsTo: "the app is In production",
      },
      "no-browser": {
        type: "boolean",
        description: "print the consent URL without opening a browser (a remote machine: forward the port)",
      },
      port: {
        type: "string",
        value: "N",
        description: "the local port Google redirects the browser to (1024 to 65535)",
        defaultsTo: "a free one",
      },
      "no-replay": { type: "boolean", description: "store the token without replaying the retry queue now (its hourly run will)" },
      "wait-minutes": {
        type: "string",
        value: "N",
        description: "how long to follow the retry queue's replay",
        defaultsTo: `${Math.round(DEFAULT_FOLLOW.timeoutMs / 60000)}`,
      },
      ...STACK_OPTIONS,
    },
    positionals: [0, 0],
    examples: [
      "ses-mail oauth refresh --account you@gmail.com --stack prod",
      "ses-mail oauth refresh --account you@gmail.com --no-browser --port 8765 --stack prod   # on a server: ssh -L 8765:127.0.0.1:8765 first",
    ],
    async run(context) {
      const { out, values } = context;
      const account = accountArgument(values.account as string | undefined);
      const port = parsePort(values.port as string | undefined);
      const follow: FollowOptions = {
        ...deps.follow,
        timeoutMs: parseWaitMinutes(values["wait-minutes"] as string | undefined, deps.follow.timeoutMs),
      };
      const target = resolveStack(context);
      const ssm = ssmClient(target);
      try {
        const client = await readClient(ssm, target);
        const { refreshToken, scopes } = await authorize(context, deps, client, account, port);

        const now = deps.now();
        const testing = values["testing-app"] === true;
        const expiresEpoch =
          Math.floor(now.getTime() / 1000) + (testing ? TESTING_TOKEN_LIFETIME_SECONDS : PRODUCTION_TOKEN_REVIEW_SECONDS);
        const expiresAt = new Date(expiresEpoch * 1000).toISOString();
        const basis = testing ? ExpiryBasis.Testing : ExpiryBasis.Unused;
        const tokenName = refreshTokenParameter(target.env, account);
        const metadataName = tokenMetadataParameter(target.env, account);
        await putParameterValue(ssm, target, {
          name: tokenName,
          value: serializeStoredRefreshToken({ refreshToken, createdAt: now.toISOString(), expiresAt }),
          type: "SecureString",
          description: `Gmail refresh token of ${account}; set with the ses-mail CLI`,
        });
        await putParameterValue(ssm, target, {
          name: metadataName,
          // `scopes` tells `rules add` and `oauth status` whether this consent allows labels by name.
          value: JSON.stringify({
            account,
            created_at: now.toISOString(),
            expires_at: expiresAt,
            expires_at_epoch: expiresEpoch,
            expiry_basis: basis,
            scopes,
          }),
          type: "String",
          description: `Expiry of the Gmail refresh token of ${account}; read by the token monitor`,
        });
        out.line(`stored the refresh token for ${account} in SSM ${tokenName} (${target.description})`);
        out.line(
          testing
            ? `it expires ${expiresAt} (the Google app is in Testing: 7 days); publish the app to "In production" to stop the weekly refresh (docs/SETUP.md)`
            : `re-authorize by ${expiresAt}: an app In production has no fixed expiry, but Google drops a token unused for 6 months (the token alarms remind you). Without --testing-app ses-mail assumes the app is In production`,
        );

        if (values["no-replay"] === true) {
          out.line(`retry queue not replayed (--no-replay); its hourly run will, or start it now with another refresh`);
          return;
        }
        const sqs = new SQSClient(target.clientConfig("SQS"));
        try {
          const depth = await queueDepth(sqs, target, target.names.retryQueue);
          out.note(`retry queue ${depth.name}: ${depth.visible} waiting, ${depth.inFlight} in flight, ${depth.delayed} delayed`);
          if (depth.delayed > 0) out.note(`  the ${depth.delayed} delayed message(s) become visible later; the hourly run replays them`);
        } finally {
          sqs.destroy();
        }
        const outcome = await replayRetryQueue(target, out, `oauth refresh for ${account}`, follow);
        out.line(
          `retry queue replayed in ${formatDuration(outcome.seconds)}: ${outcome.delivered} delivered, ${outcome.deadLettered} moved to the retry DLQ`,
        );
        if (outcome.deadLettered > 0) {
          out.line(`look at the failures and send them back with: ses-mail dlq redrive --queue retry --stack ${target.env}`);
        }
      } finally {
        ssm.destroy();
      }
    },
  };
}

interface AccountStatus {
  account: string;
  authorized: boolean;
  createdAt?: string;
  ageSeconds?: number;
  expiresAt?: string | null;
  secondsLeft?: number | null;
  expiryBasis?: string;
  monitorSeconds?: number;
  monitorAt?: string;
  problem?: string;
  /** A rule forwards to this account. */
  usedByRules: boolean;
  /** Whether its consent allows labels by name; null for a token recorded before ses-mail recorded scopes. */
  labelAccess?: boolean | null;
}

/** Gmail addresses the stack's rules forward to (enabled or not); undefined when the table cannot be read. */
async function ruleTargets(target: StackTarget, out: Output): Promise<Set<string> | undefined> {
  const client = new DynamoDBClient(target.clientConfig("DYNAMODB"));
  try {
    const items = await new DynamoDbRuleStore({ tableName: target.names.table, client }).listRuleItems();
    const codec = createRuleCodec();
    const targets = new Set<string>();
    for (const item of items) {
      try {
        for (const action of codec.fromItem(item).actions) if (action.type === "forward-to-gmail") targets.add(canonicalize(action.target));
      } catch {
        // an invalid rule is reported by `rules list`; here it forwards nowhere
      }
    }
    return targets;
  } catch (error) {
    out.note(`note: cannot list the rules of ${target.names.table} (${errorMessage(error)}); not checking which accounts rules need`);
    return undefined;
  } finally {
    client.destroy();
  }
}

function status(deps: OAuthDeps): Command {
  return {
    name: "oauth status",
    summary: "Show each Gmail account's token age and time to expiry, the retry queue and the token monitor",
    usage: `ses-mail oauth status [--account ADDRESS] [--json] ${STACK_USAGE}`,
    options: {
      account: { type: "string", value: "ADDRESS", description: "only this Gmail account", defaultsTo: "every authorized account" },
      ...JSON_OPTION,
      ...STACK_OPTIONS,
    },
    positionals: [0, 0],
    examples: ["ses-mail oauth status --stack prod"],
    async run(context) {
      const { out, values } = context;
      const only = values.account === undefined ? undefined : accountArgument(values.account as string);
      const target = resolveStack(context);
      const now = deps.now();
      const nowSeconds = now.getTime() / 1000;
      const ssm = ssmClient(target);
      const cloudwatch = new CloudWatchClient(target.clientConfig("CLOUDWATCH"));
      const sqs = new SQSClient(target.clientConfig("SQS"));
      try {
        let metadata = await readTokenMetadata(ssm, target);
        if (only) metadata = metadata.filter((entry) => entry.key === accountParameterKey(only));
        const [monitor, retry, targets] = await Promise.all([
          readMonitorValues(
            cloudwatch,
            target,
            metadata.map((entry) => entry.key),
            now,
          ),
          queueDepth(sqs, target, target.names.retryQueue),
          ruleTargets(target, out),
        ]);

        const accounts: AccountStatus[] = metadata.map((entry) => {
          const created = entry.createdAt ? Date.parse(entry.createdAt) / 1000 : undefined;
          const perAccount = monitor.byAccount.get(entry.key);
          return {
            account: entry.account,
            authorized: !entry.problem,
            ...(entry.createdAt ? { createdAt: entry.createdAt } : {}),
            ...(created !== undefined && !Number.isNaN(created) ? { ageSeconds: Math.round(nowSeconds - created) } : {}),
            ...(entry.problem
              ? { problem: entry.problem }
              : {
                  expiresAt: entry.expiresAt ?? null,
                  secondsLeft: entry.expiresAtEpoch == null ? null : Math.round(entry.expiresAtEpoch - nowSeconds),
                  ...(entry.basis ? { expiryBasis: entry.basis } : {}),
                }),
            ...(perAccount ? { monitorSeconds: perAccount.seconds, monitorAt: perAccount.at.toISOString() } : {}),
            usedByRules: targets?.has(canonicalize(entry.account)) ?? false,
            ...(entry.problem ? {} : { labelAccess: entry.scopes === undefined ? null : canManageLabels(entry.scopes) }),
          };
        });
        const known = new Set(metadata.map((entry) => entry.key));
        const missing = [...(targets ?? [])]
          .filter((address) => !known.has(accountParameterKey(address)) && (!only || address === only))
          .sort();

        if (values.json) {
          out.json({
            stack: target.env,
            region: target.region,
            accounts,
            unauthorizedRuleTargets: missing,
            retryQueue: {
              name: retry.name,
              exists: retry.url !== undefined,
              visible: retry.visible,
              inFlight: retry.inFlight,
              delayed: retry.delayed,
            },
            monitor: monitor.overall
              ? { secondsUntilExpiration: monitor.overall.seconds, publishedAt: monitor.overall.at.toISOString() }
              : null,
          });
          return;
        }
        if (accounts.length === 0) {
          out.line(
            `no Gmail account is authorized in ${target.description}: run ses-mail oauth refresh --account ADDRESS --stack ${target.env}`,
          );
        } else {
          const rows = accounts.map((entry) => {
            const meta = metadata.find((m) => m.account === entry.account);
            return [
              entry.account,
              entry.problem ?? (entry.ageSeconds !== undefined ? `authorized ${formatDuration(entry.ageSeconds)} ago` : "authorized"),
              entry.problem ? "" : describeExpiry(meta?.expiresAtEpoch, nowSeconds, meta?.basis),
              describeMonitorValue(monitor.byAccount.get(meta?.key ?? ""), now),
            ];
          });
          for (const line of formatTable([["ACCOUNT", "TOKEN", "EXPIRY", "MONITOR"], ...rows])) out.line(line);
        }
        for (const entry of accounts.filter((account) => account.labelAccess !== undefined && account.labelAccess !== true)) {
          out.line(
            `${entry.account}: ${entry.labelAccess === null ? "authorized before ses-mail asked for label access" : "did not allow label access"}: ` +
              `labels rules name (--label Receipts) are not applied to its mail until \`ses-mail oauth refresh --account ${entry.account} --stack ${target.env}\``,
          );
        }
        for (const address of missing) {
          out.line(
            `${address}: a rule forwards here but it has no token; run ses-mail oauth refresh --account ${address} --stack ${target.env}`,
          );
        }
        out.line(
          retry.url === undefined
            ? `retry queue ${retry.name}: does not exist (is the stack deployed?)`
            : `retry queue: ${retry.visible} waiting, ${retry.inFlight} in flight, ${retry.delayed} delayed`,
        );
        out.line(`token monitor (minimum over accounts): ${describeMonitorValue(monitor.overall, now)}`);
      } finally {
        ssm.destroy();
        cloudwatch.destroy();
        sqs.destroy();
      }
    },
  };
}

/** The `oauth` commands; tests pass their own Google endpoints, browser and clock. */
export function oauthCommands(overrides: Partial<OAuthDeps> = {}): Command[] {
  const deps: OAuthDeps = { ...DEFAULT_OAUTH_DEPS, ...overrides };
  return [setClient(), refresh(deps), status(deps)];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const OAUTH_COMMANDS: readonly Command[] = oauthCommands();
