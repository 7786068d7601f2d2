/**
 * Stages alone, each with exactly the args a test gives it (the way pulumi-awsx and pulumi-eks test
 * their components): the branches the shipped program never takes (a stage without its handler, a
 * stack with only the router, monitoring with nothing optional) and the contract between a stage and
 * its handler's environment builder. The whole program is tested in program.test.ts and its siblings.
 */
import * as aws from "@pulumi/aws";
import { Bouncer } from "../../components/bouncer";
import {
  GMAIL_FORWARDER_BATCH_SIZE,
  GMAIL_FORWARDER_MAX_CONCURRENCY,
  GMAIL_FORWARDER_MEMORY_MB,
  GMAIL_FORWARDER_TIMEOUT_SECONDS,
  GmailForwarder,
  type GmailForwarderStageEnvironment,
} from "../../components/gmail-forwarder";
import { Monitoring } from "../../components/monitoring";
import { visibilityForFunction } from "../../components/queue";
import { SesMail } from "../../components/ses-mail";
import type { SynthResult } from "../../components/synth/run";
import { parseStackConfig } from "../../config/schema";
import { routerEnvironmentVariables } from "../../handlers/router";
import { STAGE_AWS, stageContext, synthStages, within } from "../helpers/stage";
import { named, ofType, stubFactory, T } from "../helpers/synth";

const { region: R, accountId: A } = STAGE_AWS;
let result: SynthResult;

/** An environment builder that shows what the stage handed it. */
const showEnvironment = (env: GmailForwarderStageEnvironment) => ({ STAGE_ENVIRONMENT: JSON.stringify(env) });

beforeAll(async () => {
  result = await synthStages(() => {
    // A stack with only the router: the delivery and credential stages build what does not need a handler.
    const routerOnly = new SesMail("router-only", {
      config: parseStackConfig({ domains: ["router-only.example"] }, "router-only"),
      handlers: { router: { factory: stubFactory("router"), environmentVariables: routerEnvironmentVariables } },
    });

    // The Gmail forwarder with its handler and declared routes, next to a table and bucket of its own.
    const alone = stageContext("alone");
    const table = new aws.dynamodb.Table("alone-table", {
      name: "alone-table",
      billingMode: "PAY_PER_REQUEST",
      hashKey: "PK",
      attributes: [{ name: "PK", type: "S" }],
    });
    const bucket = new aws.s3.Bucket("alone-bucket", { bucket: "alone-bucket" });
    const forwarder = new GmailForwarder("forwarder-alone", {
      stack: alone,
      code: { factory: stubFactory("gmail-forwarder"), environmentVariables: showEnvironment },
      routes: [
        { recipient: "a@alone.example", enabled: true, actions: [{ type: "forward-to-gmail", target: "Family@Gmail.com" }] },
        {
          recipient: "b@alone.example",
          enabled: false,
          actions: [
            { type: "forward-to-gmail", target: "family@gmail.com" },
            { type: "forward-to-gmail", target: "work@gmail.com" },
          ],
        },
        { recipient: "c@alone.example", enabled: true, actions: [{ type: "bounce" }] },
      ],
      table,
      bucket,
      keyPrefix: "emails/",
    });

    // The bouncer without its handler.
    new Bouncer("bouncer-queues-only", {
      stack: stageContext("queues-only"),
      table,
      bucket,
      keyPrefix: "emails/",
      domains: ["alone.example"],
    });

    // Monitoring with nothing optional: no alarm email, no pipe, no state machines, no token monitor, no parked deliveries.
    new Monitoring("monitoring-minimal", {
      stack: stageContext("minimal"),
      targets: {
        functions: [{ key: "router", functionName: "ses-mail-router-enrichment-minimal" }],
        queues: [{ key: "input", queueName: "ses-email-input-minimal", maxAgeSeconds: 300 }],
        deadLetterQueues: [{ key: "input", queueName: "ses-email-input-dlq-minimal" }],
        stateMachines: [],
        tokenMonitor: false,
        handlerMetrics: {},
      },
    });

    return { routerOnly: routerOnly.outputs.functions, forwarderQueue: forwarder.queues.queue.url };
  });
}, 120_000);

describe("a stack with only the router's handler", () => {
  const stage = () => within(result, "router-only");

  it("builds one function and the queues the bus routes into, and no consumer for them", () => {
    expect(ofType(stage(), T.function).map((fn) => fn.inputs.name)).toEqual(["ses-mail-router-enrichment-router-only"]);
    expect(ofType(stage(), T.eventSourceMapping)).toEqual([]);
    const queues = ofType(stage(), T.queue).map((queue) => String(queue.inputs.name));
    expect(queues).toEqual(
      expect.arrayContaining(["ses-gmail-forwarder-router-only", "ses-mail-gmail-forwarder-retry-router-only", "ses-bouncer-router-only"]),
    );
    expect(result.outputs.routerOnly).toEqual({ router: "ses-mail-router-enrichment-router-only" });
  });

  it("has no credential manager (no key, no stream consumer) and no retry processor (nothing to replay into)", () => {
    expect(ofType(stage(), T.kmsKey)).toEqual([]);
    expect(ofType(stage(), T.stateMachine).map((machine) => machine.inputs.name)).toEqual(["ses-mail-gmail-token-monitor-router-only"]);
    expect(ofType(stage(), T.queue).map((queue) => String(queue.inputs.name))).not.toContain("ses-mail-credential-manager-dlq-router-only");
  });

  it("alarms on every queue it built, and not on parked deliveries, which only a forwarder publishes", () => {
    const alarms = ofType(stage(), T.alarm);
    const watchedDeadLetters = alarms
      .filter((alarm) => alarm.inputs.metricName === "ApproximateNumberOfMessagesVisible")
      .map((alarm) => (alarm.inputs.dimensions as { QueueName: string }).QueueName);
    const deadLetterQueues = ofType(stage(), T.queue)
      .map((queue) => String(queue.inputs.name))
      .filter((name) => name.includes("-dlq-"));
    expect(watchedDeadLetters.sort()).toEqual(deadLetterQueues.sort());
    expect(alarms.map((alarm) => alarm.inputs.metricName)).not.toContain("GmailParkedAgeSeconds");
    expect(alarms.map((alarm) => String(alarm.inputs.name))).toContain("ses-mail-router-errors-router-only");
  });
});

describe("the Gmail forwarder alone", () => {
  const stage = () => within(result, "forwarder-alone");

  it("hands its handler's environment builder the stack, the routing table and the retry queue", () => {
    const fn = named(stage(), T.function, "ses-mail-gmail-forwarder-alone");
    const variables = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    expect(JSON.parse(variables.STAGE_ENVIRONMENT!)).toEqual({
      environment: "alone",
      routingTable: "alone-table",
      retryQueueUrl: `https://sqs.${R}.amazonaws.com/${A}/ses-mail-gmail-forwarder-retry-alone`,
    });
    expect(variables).toMatchObject({ POWERTOOLS_SERVICE_NAME: "gmail-forwarder", POWERTOOLS_METRICS_NAMESPACE: "SESMail/alone" });
    expect(fn.inputs).toMatchObject({ memorySize: GMAIL_FORWARDER_MEMORY_MB, timeout: GMAIL_FORWARDER_TIMEOUT_SECONDS });
  });

  it("consumes its own queue in batches, reporting failures per record, at bounded concurrency", () => {
    expect(ofType(stage(), T.eventSourceMapping).map((mapping) => mapping.inputs)).toEqual([
      expect.objectContaining({
        eventSourceArn: `arn:aws:sqs:${R}:${A}:ses-gmail-forwarder-alone`,
        functionName: `arn:aws:lambda:${R}:${A}:function:ses-mail-gmail-forwarder-alone`,
        batchSize: GMAIL_FORWARDER_BATCH_SIZE,
        maximumBatchingWindowInSeconds: 0,
        functionResponseTypes: ["ReportBatchItemFailures"],
        scalingConfig: { maximumConcurrency: GMAIL_FORWARDER_MAX_CONCURRENCY },
      }),
    ]);
    expect(named(stage(), T.queue, "ses-gmail-forwarder-alone").inputs.visibilityTimeoutSeconds).toBe(
      visibilityForFunction(GMAIL_FORWARDER_TIMEOUT_SECONDS),
    );
  });

  it("one token and one metadata placeholder per Gmail account its routes forward to (disabled routes too), kept on delete", () => {
    const parameters = ofType(stage(), T.parameter).map((parameter) => ({ name: parameter.inputs.name, options: parameter.options }));
    expect(parameters.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual([
      { name: "/ses-mail/alone/gmail/oauth-client", options: { ignoreChanges: ["value", "description"] } },
      {
        name: "/ses-mail/alone/gmail/token-metadata/family_at_gmail.com",
        options: { ignoreChanges: ["value", "description"], retainOnDelete: true },
      },
      {
        name: "/ses-mail/alone/gmail/token-metadata/work_at_gmail.com",
        options: { ignoreChanges: ["value", "description"], retainOnDelete: true },
      },
      {
        name: "/ses-mail/alone/gmail/tokens/family_at_gmail.com",
        options: { ignoreChanges: ["value", "description"], retainOnDelete: true },
      },
      {
        name: "/ses-mail/alone/gmail/tokens/work_at_gmail.com",
        options: { ignoreChanges: ["value", "description"], retainOnDelete: true },
      },
    ]);
  });
});

describe("the bouncer without its handler", () => {
  const stage = () => within(result, "bouncer-queues-only");

  it("builds its queue and dead-letter queue, and nothing that runs", () => {
    expect(ofType(stage(), T.queue).map((queue) => queue.inputs.name)).toEqual(
      expect.arrayContaining(["ses-bouncer-queues-only", "ses-bouncer-dlq-queues-only"]),
    );
    expect(
      stage()
        .resources.filter((resource) => resource.custom)
        .map((resource) => resource.type),
    ).toEqual([T.queue, T.queue]);
  });
});

describe("monitoring with nothing optional", () => {
  const stage = () => within(result, "monitoring-minimal");

  it("a topic nobody is subscribed to, the alarms of what it watches, and a dashboard", () => {
    expect(ofType(stage(), T.subscription)).toEqual([]);
    const topic = String(named(stage(), T.topic, "ses-mail-alarms-minimal").outputs.arn);
    const alarms = ofType(stage(), T.alarm);
    expect(alarms.map((alarm) => alarm.inputs.name).sort()).toEqual(
      ["ses-mail-input-dlq-messages-minimal", "ses-mail-input-queue-age-minimal", "ses-mail-router-errors-minimal"].sort(),
    );
    for (const alarm of alarms) expect(alarm.inputs).toMatchObject({ alarmActions: [topic], okActions: [topic] });
    expect(named(stage(), T.dashboard, "ses-mail-dashboard-minimal").inputs.dashboardBody).toContain("ses-mail-router-enrichment-minimal");
  });
});
