/**
 * The router: EventBridge Pipes calls it as enrichment with a batch of SQS records from the input
 * queue, and puts what it returns on the bus as `detail` of `Email Routing Decision` events, in order.
 *
 * All candidate rule keys of all recipients of the batch are fetched in one BatchGetItem round trip.
 * Any record that cannot be routed throws (with its SQS message id): the Pipe retries it and the input
 * queue's dead-letter queue keeps it. Nothing is bounced or dropped because of an error.
 *
 * SES's setup notification (`AMAZON_SES_SETUP_NOTIFICATION`, published once when the receipt rule's S3
 * action is created) is not mail: it is acknowledged and counted, and the Lambda returns no decision for
 * it. Pipes invokes the target only for the events enrichment returns, so nothing reaches the bus and the
 * record is deleted from the input queue.
 */
import { z } from "zod";
import { DynamoDbRuleStore } from "../adapters/aws/dynamodb-rules";
import { ACTION_TYPES, createRuleCodec, type DefaultAction } from "../core/rules";
import type { DecisionDetail } from "../core/decision";
import { errorMessage, InvalidNotificationError } from "../core/errors";
import {
  createNotificationParser,
  isSetupNotification,
  SES_SETUP_NOTIFICATION_ID,
  type InboundMessage,
  type MessageStoreLocation,
} from "../core/notification";
import { decisionOutcomes, outcomeError } from "../core/outcomes";
import type { Clock, OutcomeSink, RuleReader } from "../core/ports";
import { decide, lookupPatterns, parseRecipients, ruleLookupFromItems, type RoutingSettings } from "../core/routing";
import { verdictPolicySchema, type VerdictPolicy } from "../core/verdicts";
import { lambdaEntry, parseEnvironment, type LambdaHandler } from "./entry";
import { traced, type Observability } from "./observability";
import { createOutcomeReporter } from "./outcomes";
import { builtOnce } from "../core/built-once";

export interface RouterOptions {
  readonly rules: RuleReader;
  readonly settings: RoutingSettings;
  /** Where the raw message is when a notification has no S3 pointer (the seed's separate SNS action). */
  readonly fallbackStore?: MessageStoreLocation;
  readonly observability: Observability;
  /** Receives every outcome (core/outcomes.ts) after it is logged and counted: local mode's console line. */
  readonly outcomes?: OutcomeSink;
  readonly now?: Clock;
}

/** What the router did with one SQS record of the batch. */
export interface RoutedRecord {
  readonly sqsMessageId: string;
  /** The SES message id (`AMAZON_SES_SETUP_NOTIFICATION` for SES's setup notification). */
  readonly messageId: string;
  /** The decision for mail; absent for SES's setup notification, which is acknowledged and not routed. */
  readonly decision?: DecisionDetail;
}

/** Takes the Pipe's batch (an array of SQS records) and returns what became of each record, in order. */
export type Router = (records: unknown) => Promise<RoutedRecord[]>;

/** The decisions to hand the Pipe: one per mail record; records that are not mail get none, so no event. */
export function decisionsForPipe(routed: readonly RoutedRecord[]): DecisionDetail[] {
  return routed.flatMap((record) => (record.decision ? [record.decision] : []));
}

function sqsBatchSchema() {
  return builtOnce("handlers/router:sqsBatchSchema", () => {
    const record = z.object({ messageId: z.string().min(1), body: z.string() }).loose();
    // Pipes sends an array; a lone record is accepted too, so a test invoke with one record works.
    return z.union([z.array(record), record.transform((single) => [single])]);
  });
}

export function createRouter(options: RouterOptions): Router {
  const { rules, settings, observability } = options;
  const { logger, tracer } = observability;
  const now = options.now ?? (() => new Date());
  const report = createOutcomeReporter(observability, options.outcomes);
  const codec = createRuleCodec();
  const parser = createNotificationParser(options.fallbackStore);
  const batchSchema = sqsBatchSchema();

  return async (input) => {
    const batch = batchSchema.safeParse(input);
    if (!batch.success) {
      throw new InvalidNotificationError(`the enrichment input is not a batch of SQS records: ${batch.error.issues[0]?.message}`);
    }

    const records: Array<{ sqsMessageId: string; message?: InboundMessage }> = batch.data.map((record) => {
      if (isSetupNotification(record.body)) return { sqsMessageId: record.messageId };
      try {
        const message = parser.parse(record.body);
        parseRecipients(message.recipients);
        return { sqsMessageId: record.messageId, message };
      } catch (error) {
        const wrapped = new InvalidNotificationError(`SQS message ${record.messageId}: ${errorMessage(error)}`, { cause: error });
        report(
          {
            kind: "invalid-record",
            at: now().toISOString(),
            stage: "router",
            sqsMessageId: record.messageId,
            error: outcomeError(wrapped),
          },
          wrapped,
        );
        throw wrapped;
      }
    });

    const messages = records.flatMap(({ message }) => (message ? [message] : []));
    const patterns = lookupPatterns(messages.flatMap((message) => parseRecipients(message.recipients)));
    const items = patterns.length > 0 ? await rules.getRuleItems(patterns) : new Map();
    const lookup = ruleLookupFromItems(items, codec);

    const routed: RoutedRecord[] = [];
    for (const { sqsMessageId, message } of records) {
      if (!message) {
        report({ kind: "setup-notification", messageId: SES_SETUP_NOTIFICATION_ID, at: now().toISOString() });
        routed.push({ sqsMessageId, messageId: SES_SETUP_NOTIFICATION_ID });
        continue;
      }
      logger.appendKeys({ correlation_id: message.messageId, sqsMessageId });
      try {
        const detail = await traced(tracer, "route", async () => {
          const decision = decide(message, lookup, settings);
          const used = ACTION_TYPES.filter((type) => decision.actions[type].count > 0);
          const matches = [...new Set(used.flatMap((type) => decision.actions[type].targets.map((t) => t.match)))];
          tracer.putAnnotation("messageId", message.messageId);
          tracer.putAnnotation("source", message.source);
          tracer.putAnnotation("recipient", message.recipients[0] ?? "");
          tracer.putAnnotation("action", used.join(","));
          tracer.putAnnotation("routing_match", matches.join(","));
          return decision;
        });
        for (const outcome of decisionOutcomes(detail, now().toISOString())) report(outcome);
        routed.push({ sqsMessageId, messageId: message.messageId, decision: detail });
      } catch (error) {
        report({ kind: "routing-failed", messageId: message.messageId, at: now().toISOString(), error: outcomeError(error) }, error);
        throw error;
      } finally {
        logger.removeKeys(["correlation_id", "sqsMessageId"]);
      }
    }
    return routed;
  };
}

/* ------------------------------------------------------------------------------------------------
 * Lambda wiring: the environment the component sets, and the factory Pulumi serializes.
 * ---------------------------------------------------------------------------------------------- */

/** What the router needs from its stack; the component turns it into environment variables. */
export interface RouterEnvironment {
  readonly routingTable: string;
  readonly defaultAction: DefaultAction;
  readonly verdictPolicy: VerdictPolicy;
  readonly messageBucket?: string;
  readonly messageKeyPrefix?: string;
}

/** The environment variables the component sets on the router function. */
export function routerEnvironmentVariables(env: RouterEnvironment): Record<string, string> {
  return {
    ROUTING_TABLE: env.routingTable,
    DEFAULT_ACTION: env.defaultAction,
    VERDICT_POLICY: JSON.stringify(env.verdictPolicy),
    ...(env.messageBucket ? { MESSAGE_BUCKET: env.messageBucket } : {}),
    ...(env.messageKeyPrefix !== undefined ? { MESSAGE_KEY_PREFIX: env.messageKeyPrefix } : {}),
  };
}

/** Reads the environment back at cold start; a misconfigured function fails loudly at its first invoke. */
export function readRouterEnvironment(env: NodeJS.ProcessEnv): RouterEnvironment {
  const schema = z
    .object({
      ROUTING_TABLE: z.string().min(1),
      DEFAULT_ACTION: z.enum(["bounce", "drop", "store"]).default("bounce"),
      VERDICT_POLICY: z
        .string()
        .default("{}")
        .transform((text, ctx) => {
          try {
            return JSON.parse(text) as unknown;
          } catch {
            ctx.addIssue({ code: "custom", message: "is not JSON" });
            return z.NEVER;
          }
        })
        .pipe(verdictPolicySchema()),
      MESSAGE_BUCKET: z.string().min(1).optional(),
      MESSAGE_KEY_PREFIX: z.string().optional(),
    })
    .transform((data): RouterEnvironment => ({
      routingTable: data.ROUTING_TABLE,
      defaultAction: data.DEFAULT_ACTION,
      verdictPolicy: data.VERDICT_POLICY,
      ...(data.MESSAGE_BUCKET ? { messageBucket: data.MESSAGE_BUCKET } : {}),
      ...(data.MESSAGE_KEY_PREFIX !== undefined ? { messageKeyPrefix: data.MESSAGE_KEY_PREFIX } : {}),
    }));
  return parseEnvironment("router", schema, env);
}

/**
 * The callback factory Pulumi serializes (`aws.lambda.CallbackFunction({ callbackFactory })`).
 * It runs once per Lambda container: clients, schemas and Powertools are built here.
 */
export function routerFactory(): LambdaHandler<unknown, DecisionDetail[]> {
  return lambdaEntry({
    service: "router",
    readEnvironment: readRouterEnvironment,
    build: (env, observability) => {
      const route = createRouter({
        rules: new DynamoDbRuleStore({ tableName: env.routingTable }),
        settings: { defaultAction: env.defaultAction, verdictPolicy: env.verdictPolicy },
        ...(env.messageBucket ? { fallbackStore: { bucket: env.messageBucket, prefix: env.messageKeyPrefix ?? "" } } : {}),
        observability,
      });
      return async (event) => decisionsForPipe(await route(event));
    },
  });
}
