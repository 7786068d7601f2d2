/**
 * Local mode: the whole pipeline on one machine. The router, the forwarder and the bouncer are the very
 * handlers Pulumi deploys, and the bus uses the very event patterns it deploys; only the adapters
 * differ (adapters/local, and the AWS DynamoDB adapters against dynalite).
 *
 * DATA_DIR holds everything: `emails/` (S3), `mail/<gmail-address>/` (Maildirs), `outbox/` (bounces
 * sent), `queues/` (the journals of the in-process queues and their dead letters), `dynamodb/`
 * (the routing table), `events.jsonl` (every routing decision), `outcomes.jsonl` (what each stage did
 * with each message), `tls/` (the STARTTLS certificate), `ses-mail.lock` (the process running on it:
 * one local mode per data directory) and `local-mode.json` (its endpoints, so `ses-mail rules --local`
 * finds it on any port: local/instance.ts); local/data-dir.ts describes the layout.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SMTPServer } from "smtp-server";
import type { StackConfig } from "../config/schema";
import type { DecisionDetail } from "../core/decision";
import type { Outcome } from "../core/outcomes";
import type { RawMailSender } from "../core/ports";
import { createRouter } from "../handlers/router";
import { CachedRuleReader } from "../adapters/local/cached-rules";
import { LocalDeliveryState } from "../adapters/local/delivery-state";
import { FileMessageStore } from "../adapters/local/file-message-store";
import { FileSecretStore } from "../adapters/local/file-secrets";
import { OutboxSender, parseSmarthost, SmarthostSender } from "../adapters/local/outbox";
import { QueueJournal } from "../adapters/local/queue-journal";
import { deadLetterCount } from "../adapters/local/queue";
import { ensureCertificate } from "./certificate";
import { lockDataDirectory } from "./data-lock";
import { dataDirOption, dataFiles, deadLetterCommands, LOCAL_BUCKET, LOCAL_QUEUE_ROLES, queueDir } from "./data-dir";
import { LocalStartError, loadDeclaredRoutes, startLocalDynamoDb, startTtlSweeper, type LocalDynamoDb } from "./dynamodb";
import { buildHandlers } from "./handlers";
import { createIntakeServer } from "./intake";
import { createLocalObservability } from "./observability";
import { localHandlerTimeoutMs, Pipeline, type PipelineOptions } from "./pipeline";
import { cachedResolver, loadResolverFile, systemResolver, type DnsResolver } from "./resolver";
import { StorageMonitor } from "./storage";

import { DEFAULT_DYNAMODB_PORT, DEFAULT_HOST, DEFAULT_SMTP_PORT, removeInstance, writeInstance } from "./instance";

export interface LocalModeOptions {
  readonly config: StackConfig;
  readonly dataDir: string;
  /** Where SMTP listens. Port 0 picks a free port. */
  readonly smtpHost?: string;
  readonly smtpPort?: number;
  /** Where the DynamoDB endpoint listens. Port 0 picks a free port. */
  readonly dynamodbHost?: string;
  readonly dynamodbPort?: number;
  /** A JSON zone file for hermetic DNS; otherwise the system resolver. */
  readonly resolverFile?: string;
  /** `HOST:PORT` to relay bounces through instead of writing them to the outbox. */
  readonly smarthost?: string;
  /** A JSON file of SSM-named secrets: deliver to real Gmail instead of the Maildirs. */
  readonly gmailSecretsFile?: string;
  /** With real Gmail: other Gmail API and OAuth token endpoints (a proxy, or a test's stand-in). */
  readonly gmailApiUrl?: string;
  readonly oauthTokenUrl?: string;
  /** Where the config came from, recorded for the commands that talk to this instance (`rules --local`). */
  readonly configSource?: { readonly stack: string } | { readonly configFile: string };
  /** This server's name in the greeting and trace headers; defaults to os.hostname(). */
  readonly hostname?: string;
  /** Operator lines (startup summary, one line per message); default stdout. */
  readonly output?: (line: string) => void;
  /** Tests only: delays before a failed queue message is offered again. */
  readonly retryDelayMs?: PipelineOptions["retryDelayMs"];
}

export interface LocalMode {
  readonly dataDir: string;
  readonly smtpHost: string;
  readonly smtpPort: number;
  readonly dynamodbEndpoint: string;
  readonly tableName: string;
  /** How many rules the table holds after the declared routes were loaded. */
  readonly rules: number;
  readonly pipeline: Pipeline;
  readonly maildirRoot: string;
  readonly outboxDir: string;
  /** Called for every message once all its actions are done. */
  onMessageDone(listener: (detail: DecisionDetail, outcomes: readonly Outcome[], doneAt: Date) => void): void;
  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void>;
  /** Stops accepting mail, finishes the running handler calls, closes everything. Pending work stays journalled. */
  close(): Promise<void>;
}

function listen(server: SMTPServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error & { code?: string }) => {
      reject(
        new LocalStartError(
          error.code === "EADDRINUSE"
            ? `SMTP port ${port} is in use: is local mode already running? (choose another with --smtp-port)`
            : `cannot listen for SMTP on ${host}:${port}: ${error.message}`,
          { cause: error },
        ),
      );
    };
    server.server.once("error", onError);
    server.listen(port, host, () => {
      server.server.off("error", onError);
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const output = options.output ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const dataDir = path.resolve(options.dataDir);
  const smtpHost = options.smtpHost ?? DEFAULT_HOST;
  const hostname = options.hostname ?? os.hostname();
  await fs.promises.mkdir(dataDir, { recursive: true });

  // Validate every file option before starting anything.
  const resolver: DnsResolver = options.resolverFile ? loadResolverFile(options.resolverFile) : cachedResolver(systemResolver());
  const smarthost = options.smarthost ? parseSmarthost(options.smarthost) : undefined;
  const secrets = options.gmailSecretsFile ? new FileSecretStore(options.gmailSecretsFile) : undefined;
  secrets?.check();

  // One local mode per data directory; released last, when everything else is closed.
  const lock = await lockDataDirectory(dataDir);
  let dynamo: LocalDynamoDb;
  try {
    dynamo = await startLocalDynamoDb({
      dir: path.join(dataDir, "dynamodb"),
      host: options.dynamodbHost ?? DEFAULT_HOST,
      port: options.dynamodbPort ?? DEFAULT_DYNAMODB_PORT,
      note: output,
    });
  } catch (error) {
    await lock.release();
    throw error;
  }
  const cleanups: Array<() => Promise<void>> = [() => lock.release(), () => dynamo.close()];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  // A full disk or a failed DynamoDB store pauses intake (451) and deliveries until they recover.
  const storage = new StorageMonitor({ dir: dataDir, dynamo, note: output });
  try {
    await loadDeclaredRoutes(dynamo.rules, options.config.routes);
    const rules = (await dynamo.rules.listRuleItems()).length;
    const sweeper = startTtlSweeper(dynamo.client, dynamo.tableName, { onError: (error) => output(`ttl sweep failed: ${String(error)}`) });
    cleanups.push(() => sweeper.stop());

    // Most mail's bytes are journalled with its notification, in the queues' journal (file-message-store.ts).
    const journal = QueueJournal.acquire(path.join(dataDir, "queues"));
    cleanups.push(() => journal.release());
    const store = new FileMessageStore({ root: dataDir, bucket: LOCAL_BUCKET, journal });
    await store.init();
    // A delivery a crash interrupted stays locked for a handler's timeout, as a Lambda's would for its remaining time.
    const lockMs = localHandlerTimeoutMs();
    // Into a Maildir an import is idempotent by itself, so its lock need not be synced (delivery-state.ts).
    const state = await LocalDeliveryState.open({
      file: dataFiles(dataDir).deliveryState,
      lockMs: () => lockMs,
      syncLocks: secrets !== undefined,
    });
    cleanups.push(() => state.close());
    const maildirRoot = path.join(dataDir, "mail");
    const outboxDir = path.join(dataDir, "outbox");
    let sender: RawMailSender;
    if (smarthost) {
      const relay = new SmarthostSender(smarthost);
      cleanups.push(async () => relay.close());
      sender = relay;
    } else {
      sender = new OutboxSender({ dir: outboxDir });
    }

    // The pipeline needs the handlers and the handlers need the pipeline's retry queue: handlers are
    // bound late, through these two indirections.
    let forwarder: PipelineOptions["forwarder"] = async () => undefined;
    let bouncer: PipelineOptions["bouncer"] = async () => undefined;
    const pipeline = new Pipeline({
      dataDir,
      router: storage.guardRouter(
        createRouter({
          rules: new CachedRuleReader({ load: () => dynamo.scanRuleItems(), generation: () => dynamo.writeGeneration() }),
          settings: { defaultAction: options.config.defaultAction, verdictPolicy: options.config.verdictPolicy },
          observability: createLocalObservability("router"),
          // Bound late: the pipeline that receives them is built with this router.
          outcomes: { record: (outcome) => pipeline.recordOutcome("router", outcome) },
        }),
      ),
      forwarder: storage.guard((event) => forwarder(event)),
      bouncer: storage.guard((event) => bouncer(event)),
      output,
      ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
    });
    const handlers = buildHandlers({
      environment: options.config.environment,
      state,
      store,
      mailbox: secrets
        ? {
            secrets,
            ...(options.gmailApiUrl ? { gmailApiUrl: options.gmailApiUrl } : {}),
            ...(options.oauthTokenUrl ? { oauthTokenUrl: options.oauthTokenUrl } : {}),
          }
        : { maildirRoot, hostname },
      sender,
      retryQueue: pipeline.retryQueue,
      outcomes: { forwarder: pipeline.outcomeSink("gmail-forwarder"), bouncer: pipeline.outcomeSink("bouncer") },
    });
    forwarder = handlers.forwarder;
    bouncer = handlers.bouncer;

    const recovered = await pipeline.recover();
    // Journalled messages a crash left are whole files again before anything reads them.
    await store.recover();
    store.startCheckpoints((error) =>
      output(`cannot sync journalled messages (tried again in a second): ${error instanceof Error ? error.message : String(error)}`),
    );
    cleanups.push(() => store.close());
    pipeline.start();
    cleanups.push(() => pipeline.stop());
    // Runs before pipeline.stop: calls waiting for storage give up, their messages stay queued.
    cleanups.push(async () => storage.stop());

    const tls = await ensureCertificate(path.join(dataDir, "tls"), {
      commonName: hostname,
      altNames: [...new Set(["localhost", "127.0.0.1", "::1", hostname])],
    });
    const server = createIntakeServer({
      domains: options.config.domains,
      store,
      resolver,
      hostname,
      tls,
      publish: (notification, rawMessage) => pipeline.publish(notification, rawMessage),
      backlog: () => pipeline.backlog(),
      waitForProgress: (ms) => pipeline.waitForProgress(ms),
      storageProblem: (check) => storage.check(check),
      note: output,
    });
    const smtpPort = await listen(server, smtpHost, options.smtpPort ?? DEFAULT_SMTP_PORT);
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    // Written last, once everything listens: a command that finds it can talk to this instance.
    await writeInstance(dataDir, {
      pid: process.pid,
      hostname: os.hostname(),
      dynamodbEndpoint: dynamo.endpoint,
      smtp: `${smtpHost}:${smtpPort}`,
      ...(options.configSource && "configFile" in options.configSource
        ? { configFile: path.resolve(options.configSource.configFile) }
        : {}),
      ...(options.configSource && "stack" in options.configSource ? { stack: options.configSource.stack } : {}),
      startedAt: new Date().toISOString(),
    });
    cleanups.push(() => removeInstance(dataDir));

    const pending = Object.entries(recovered).filter(([, found]) => found.recovered > 0);
    const discarded = Object.values(recovered).reduce((sum, found) => sum + found.discarded, 0);
    const deadLetters = (
      await Promise.all(LOCAL_QUEUE_ROLES.map(async (role) => [role, await deadLetterCount(queueDir(dataDir, role))] as const))
    ).filter(([, count]) => count > 0);
    output(`ses-mail local mode (stack ${options.config.environment}), data in ${dataDir}`);
    output(`  SMTP       ${smtpHost}:${smtpPort} (STARTTLS with a self-signed certificate, tls/cert.pem)`);
    output(`  DynamoDB   ${dynamo.endpoint}, table ${dynamo.tableName}`);
    output(`  domains    ${options.config.domains.join(", ")}`);
    output(
      `  rules      ${rules} loaded (${options.config.routes.length} declared in the stack config), default action ${options.config.defaultAction}: npx ses-mail rules list ${dataDirOption(dataDir)}`,
    );
    output(`  DNS        ${options.resolverFile ? `hermetic, from ${options.resolverFile}` : "system resolver"}`);
    output(
      `  mail to    ${secrets ? "real Gmail (secrets from " + options.gmailSecretsFile + ")" : `${maildirRoot}/<gmail-address>/ (Maildir)`}`,
    );
    output(`  bounces to ${smarthost ? `smarthost ${smarthost.host}:${smarthost.port}` : `${outboxDir}/`}`);
    if (pending.length > 0)
      output(`  recovered  ${pending.map(([queue, found]) => `${found.recovered} ${queue}`).join(", ")} queued before the last stop`);
    if (discarded > 0)
      output(
        `  discarded  ${discarded} queue entr${discarded === 1 ? "y" : "ies"} a crash cut short (never acknowledged, so the sender still has it)`,
      );
    for (const [role, count] of deadLetters) {
      output(`  dead letters ${count} in the ${role} queue wait for you: ${deadLetterCommands(dataDir, role).show}`);
    }

    let closed: Promise<void> | undefined;
    return {
      dataDir,
      smtpHost,
      smtpPort,
      dynamodbEndpoint: dynamo.endpoint,
      tableName: dynamo.tableName,
      rules,
      pipeline,
      maildirRoot,
      outboxDir,
      onMessageDone: (listener) => pipeline.onMessageDone(listener),
      idle: () => pipeline.idle(),
      close: () => (closed ??= cleanUp()),
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
