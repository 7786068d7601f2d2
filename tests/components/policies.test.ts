/**
 * Least privilege of every role and resource policy, proven with an IAM policy simulator: what each
 * must be allowed, and representative actions and resources it must be denied. The documents are built
 * by the same pure builders the components use; tests/components/program.test.ts repeats the key checks
 * on the policies the synthesized program actually attaches.
 */
import {
  baseFunctionStatements,
  bouncerStatements,
  credentialKeyPolicy,
  credentialManagerStatements,
  gmailForwarderStatements,
  notificationTopicPolicy,
  pipeStatements,
  policyDocument,
  queueSendPolicy,
  retryProcessorStatements,
  routerStatements,
  mtaStsBucketPolicy,
  schedulerStatements,
  serviceTrustPolicy,
  smtpUserPermissionsBoundary,
  storageBucketPolicy,
  tokenMonitorStatements,
  trustPolicyJson,
  type PolicyDocument,
  type PolicyStatement,
} from "../../components/policies";
import { smtpSendingPolicy } from "../../core/smtp-credentials";
import { TEST_ACCOUNT as A, TEST_CONTEXT as ctx, TEST_REGION as R, evaluate, expectAllowed, expectDenied } from "../helpers/iam";

const table = `arn:aws:dynamodb:${R}:${A}:table/ses-mail-email-routing-test`;
const otherTable = `arn:aws:dynamodb:${R}:${A}:table/ses-mail-email-routing-prod`;
const stream = `${table}/stream/2026-01-01T00:00:00.000`;
const bucket = "arn:aws:s3:::ses-mail-storage-123456789012-test";
const queue = (name: string) => `arn:aws:sqs:${R}:${A}:${name}`;
const fn = (name: string) => `arn:aws:lambda:${R}:${A}:function:${name}`;
const logGroup = (name: string) => `arn:aws:logs:${R}:${A}:log-group:${name}`;
const param = (name: string) => `arn:aws:ssm:${R}:${A}:parameter${name}`;
const bus = `arn:aws:events:${R}:${A}:event-bus/ses-mail-email-routing-test`;
const doc = (statements: PolicyStatement[]): PolicyDocument => policyDocument(statements);

describe("every function's base statements", () => {
  const policy = doc(baseFunctionStatements(logGroup("/aws/lambda/ses-mail-router-enrichment-test")));

  it("write only the function's own log group, and X-Ray", async () => {
    await expectAllowed(policy, [
      { action: "logs:CreateLogStream", resource: `${logGroup("/aws/lambda/ses-mail-router-enrichment-test")}:log-stream:2026/01/01/x` },
      { action: "logs:PutLogEvents", resource: `${logGroup("/aws/lambda/ses-mail-router-enrichment-test")}:log-stream:2026/01/01/x` },
      { action: "xray:PutTraceSegments", resource: "*" },
    ]);
    await expectDenied(policy, [
      { action: "logs:PutLogEvents", resource: `${logGroup("/aws/lambda/ses-mail-bouncer-test")}:log-stream:x` },
      { action: "logs:CreateLogGroup", resource: logGroup("/aws/lambda/anything") },
      { action: "logs:DeleteLogGroup", resource: logGroup("/aws/lambda/ses-mail-router-enrichment-test") },
    ]);
  });
});

describe("router role", () => {
  const policy = doc(routerStatements({ tableArn: table }));

  it("reads rules with BatchGetItem on its table and nothing else", async () => {
    await expectAllowed(policy, [
      {
        action: "dynamodb:BatchGetItem",
        resource: table,
        context: { "dynamodb:LeadingKeys": ["ROUTE#alice@example.com", "ROUTE#*@example.com", "ROUTE#*"] },
      },
    ]);
    await expectDenied(policy, [
      { action: "dynamodb:BatchGetItem", resource: table, context: { "dynamodb:LeadingKeys": ["SMTP_USER#app"] } },
      {
        action: "dynamodb:BatchGetItem",
        resource: table,
        context: { "dynamodb:LeadingKeys": ["ROUTE#a@example.com", "IDEMPOTENCY#gmail-forwarder"] },
      },
      { action: "dynamodb:BatchGetItem", resource: table },
      { action: "dynamodb:PutItem", resource: table },
      { action: "dynamodb:DeleteItem", resource: table },
      { action: "dynamodb:Scan", resource: table },
      { action: "dynamodb:BatchGetItem", resource: otherTable, context: { "dynamodb:LeadingKeys": ["ROUTE#*"] } },
      { action: "s3:GetObject", resource: `${bucket}/emails/m1` },
    ]);
  });
});

describe("pipe role", () => {
  const policy = doc(
    pipeStatements({
      inputQueueArn: queue("ses-email-input-test"),
      routerArn: fn("ses-mail-router-enrichment-test"),
      busArn: bus,
      logGroupArn: logGroup("/aws/pipes/ses-email-router-test"),
    }),
  );

  it("polls the input queue, invokes the router, puts events on its bus, writes its logs", async () => {
    await expectAllowed(policy, [
      { action: "sqs:ReceiveMessage", resource: queue("ses-email-input-test") },
      { action: "sqs:DeleteMessage", resource: queue("ses-email-input-test") },
      { action: "lambda:InvokeFunction", resource: fn("ses-mail-router-enrichment-test") },
      { action: "events:PutEvents", resource: bus },
      { action: "logs:PutLogEvents", resource: `${logGroup("/aws/pipes/ses-email-router-test")}:log-stream:x` },
    ]);
    await expectDenied(policy, [
      { action: "sqs:SendMessage", resource: queue("ses-email-input-test") },
      { action: "sqs:ReceiveMessage", resource: queue("ses-gmail-forwarder-test") },
      { action: "lambda:InvokeFunction", resource: fn("ses-mail-gmail-forwarder-test") },
      { action: "events:PutEvents", resource: `arn:aws:events:${R}:${A}:event-bus/default` },
    ]);
  });
});

describe("gmail forwarder role", () => {
  const policy = doc(
    gmailForwarderStatements(ctx, {
      bucketArn: bucket,
      keyPrefix: "emails/",
      tableArn: table,
      retryQueueArn: queue("ses-mail-gmail-forwarder-retry-test"),
      queueArn: queue("ses-gmail-forwarder-test"),
      oauthClientParameter: "/ses-mail/test/gmail/oauth-client",
      refreshTokenPrefix: "/ses-mail/test/gmail/tokens/",
      idempotencyPartition: "IDEMPOTENCY#gmail-forwarder",
      messageKeyPrefix: "MESSAGE#",
    }),
  );

  it("is allowed exactly what its handler's header lists", async () => {
    await expectAllowed(policy, [
      { action: "s3:GetObject", resource: `${bucket}/emails/m1` },
      { action: "s3:DeleteObject", resource: `${bucket}/emails/m1` },
      { action: "s3:ListBucket", resource: bucket },
      { action: "ssm:GetParameter", resource: param("/ses-mail/test/gmail/oauth-client") },
      { action: "ssm:GetParameter", resource: param("/ses-mail/test/gmail/tokens/me_at_gmail.com") },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["IDEMPOTENCY#gmail-forwarder"] } },
      { action: "dynamodb:UpdateItem", resource: table, context: { "dynamodb:LeadingKeys": ["MESSAGE#m1"] } },
      { action: "dynamodb:GetItem", resource: table, context: { "dynamodb:LeadingKeys": ["MESSAGE#m1"] } },
      { action: "sqs:SendMessage", resource: queue("ses-mail-gmail-forwarder-retry-test") },
      { action: "sqs:ReceiveMessage", resource: queue("ses-gmail-forwarder-test") },
      { action: "sqs:DeleteMessage", resource: queue("ses-gmail-forwarder-test") },
    ]);
  });

  it("is denied other objects, other stacks' secrets, rules and other queues", async () => {
    await expectDenied(policy, [
      { action: "s3:PutObject", resource: `${bucket}/emails/m1` },
      { action: "s3:GetObject", resource: `${bucket}/other/m1` },
      { action: "ssm:GetParameter", resource: param("/ses-mail/prod/gmail/tokens/me_at_gmail.com") },
      { action: "ssm:PutParameter", resource: param("/ses-mail/test/gmail/tokens/me_at_gmail.com") },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["ROUTE#*"] } },
      { action: "dynamodb:DeleteItem", resource: table, context: { "dynamodb:LeadingKeys": ["SMTP_USER#app"] } },
      { action: "dynamodb:PutItem", resource: table },
      { action: "dynamodb:Scan", resource: table },
      { action: "sqs:SendMessage", resource: queue("ses-bouncer-test") },
      { action: "sqs:SendMessage", resource: queue("ses-mail-gmail-forwarder-retry-dlq-test") },
    ]);
  });
});

describe("bouncer role", () => {
  const policy = doc(
    bouncerStatements(ctx, {
      bucketArn: bucket,
      keyPrefix: "emails/",
      tableArn: table,
      queueArn: queue("ses-bouncer-test"),
      domains: ["test.example.com"],
      throttleKeyPrefix: "BOUNCE#",
      messageKeyPrefix: "MESSAGE#",
    }),
  );
  const identity = `arn:aws:ses:${R}:${A}:identity/test.example.com`;

  it("sends reports as MAILER-DAEMON of the stack's domains only, and keeps only its own items", async () => {
    await expectAllowed(policy, [
      { action: "ses:SendRawEmail", resource: identity, context: { "ses:FromAddress": "MAILER-DAEMON@test.example.com" } },
      { action: "s3:GetObject", resource: `${bucket}/emails/m1` },
      { action: "s3:DeleteObject", resource: `${bucket}/emails/m1` },
      { action: "s3:ListBucket", resource: bucket },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["BOUNCE#a@b|c@d"] } },
      { action: "dynamodb:DeleteItem", resource: table, context: { "dynamodb:LeadingKeys": ["BOUNCE#a@b|c@d"] } },
      { action: "dynamodb:UpdateItem", resource: table, context: { "dynamodb:LeadingKeys": ["MESSAGE#m1"] } },
      { action: "sqs:ReceiveMessage", resource: queue("ses-bouncer-test") },
    ]);
    await expectDenied(policy, [
      { action: "ses:SendRawEmail", resource: identity, context: { "ses:FromAddress": "ceo@bank.example" } },
      { action: "ses:SendRawEmail", resource: identity, context: { "ses:FromAddress": "postmaster@test.example.com" } },
      { action: "dynamodb:UpdateItem", resource: table, context: { "dynamodb:LeadingKeys": ["BOUNCE#a@b|c@d"] } },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["MESSAGE#m1"] } },
      { action: "s3:PutObject", resource: `${bucket}/emails/m1` },
      {
        action: "ses:SendRawEmail",
        resource: `arn:aws:ses:${R}:${A}:identity/other.example`,
        context: { "ses:FromAddress": "x@other.example" },
      },
      { action: "ses:SendEmail", resource: identity, context: { "ses:FromAddress": "MAILER-DAEMON@test.example.com" } },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["ROUTE#x@test.example.com"] } },
      { action: "sqs:ReceiveMessage", resource: queue("ses-gmail-forwarder-test") },
    ]);
  });
});

describe("credential manager role and key", () => {
  const keyArn = `arn:aws:kms:${R}:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
  const managerRole = `arn:aws:iam::${A}:role/ses-mail-credential-manager-test`;
  // What KMS puts in the request context for a call with the credentials' encryption context.
  const contextKeys = { "kms:EncryptionContextKeys": ["ses-mail:smtp-user"], "kms:CallerAccount": A };
  const boundaryArn = `arn:aws:iam::${A}:policy/ses-mail-smtp-user-boundary-test`;
  const policy = doc(
    credentialManagerStatements(ctx, {
      userNamePrefix: "ses-smtp-user-",
      permissionsBoundaryArn: boundaryArn,
      tableArn: table,
      streamArn: stream,
      keyArn,
      deadLetterQueueArn: queue("ses-mail-credential-manager-dlq-test"),
      smtpUserKeyPrefix: "SMTP_USER#",
      encryptionContextKey: "ses-mail:smtp-user",
    }),
  );
  const keyPolicy = credentialKeyPolicy(ctx, { managerRoleArn: managerRole, encryptionContextKey: "ses-mail:smtp-user" });
  const withKey = (
    principal: string,
    identityPolicies: Array<PolicyDocument | string>,
    action: string,
    context: Record<string, string | string[]> = contextKeys,
  ) => evaluate({ identityPolicies, resourcePolicy: keyPolicy, principal, probe: { action, resource: keyArn, context } });

  it("manages SMTP users only, updates SMTP user items, reads the stream", async () => {
    const user = `arn:aws:iam::${A}:user/ses-smtp-user-app-1700000000`;
    const bounded = { "iam:PermissionsBoundary": boundaryArn };
    await expectAllowed(policy, [
      ...["iam:CreateUser", "iam:PutUserPolicy", "iam:PutUserPermissionsBoundary"].map((action) => ({
        action,
        resource: user,
        context: bounded,
      })),
      ...[
        "iam:GetUser",
        "iam:DeleteUser",
        "iam:GetUserPolicy",
        "iam:DeleteUserPolicy",
        "iam:ListUserPolicies",
        "iam:CreateAccessKey",
        "iam:ListAccessKeys",
        "iam:DeleteAccessKey",
      ].map((action) => ({ action, resource: user })),
      { action: "dynamodb:GetItem", resource: table, context: { "dynamodb:LeadingKeys": ["SMTP_USER#app"] } },
      { action: "dynamodb:UpdateItem", resource: table, context: { "dynamodb:LeadingKeys": ["SMTP_USER#app"] } },
      { action: "dynamodb:GetRecords", resource: stream },
      { action: "dynamodb:ListStreams", resource: "*" },
      { action: "sqs:SendMessage", resource: queue("ses-mail-credential-manager-dlq-test") },
    ]);
    await expectDenied(policy, [
      { action: "iam:CreateUser", resource: `arn:aws:iam::${A}:user/admin`, context: bounded },
      { action: "iam:CreateAccessKey", resource: `arn:aws:iam::${A}:user/deploy-bot` },
      { action: "iam:AttachUserPolicy", resource: `arn:aws:iam::${A}:user/ses-smtp-user-app-1`, context: bounded },
      { action: "iam:CreateRole", resource: `arn:aws:iam::${A}:role/ses-smtp-user-x` },
      { action: "dynamodb:UpdateItem", resource: table, context: { "dynamodb:LeadingKeys": ["ROUTE#*"] } },
      { action: "dynamodb:PutItem", resource: table, context: { "dynamodb:LeadingKeys": ["SMTP_USER#app"] } },
    ]);
  });

  it("cannot create or change a user without the boundary, or lift it, even if someone grants the role more", async () => {
    const user = `arn:aws:iam::${A}:user/ses-smtp-user-app-1700000000`;
    const administrator = policyDocument([{ Effect: "Allow", Action: "*", Resource: "*" }]);
    const asManager = (identityPolicies: PolicyDocument[], action: string, context: Record<string, string> = {}) =>
      evaluate({
        identityPolicies,
        principal: `arn:aws:iam::${A}:role/ses-mail-credential-manager-test`,
        probe: { action, resource: user, context },
      });
    for (const granted of [[policy], [policy, administrator]]) {
      // No boundary (a user created bare, or a policy written on a user that has none) and another boundary.
      expect(await asManager(granted, "iam:CreateUser")).toBe("ExplicitlyDenied");
      expect(await asManager(granted, "iam:PutUserPolicy")).toBe("ExplicitlyDenied");
      expect(await asManager(granted, "iam:CreateUser", { "iam:PermissionsBoundary": `arn:aws:iam::aws:policy/AdministratorAccess` })).toBe(
        "ExplicitlyDenied",
      );
      expect(
        await asManager(granted, "iam:PutUserPermissionsBoundary", { "iam:PermissionsBoundary": `arn:aws:iam::${A}:policy/other` }),
      ).toBe("ExplicitlyDenied");
      expect(await asManager(granted, "iam:DeleteUserPermissionsBoundary", { "iam:PermissionsBoundary": boundaryArn })).toBe(
        "ExplicitlyDenied",
      );
      expect(await asManager(granted, "iam:CreateUser", { "iam:PermissionsBoundary": boundaryArn })).toBe("Allowed");
    }
  });

  it("a user it creates can do nothing but send as its allowed addresses, whatever its own policy says", async () => {
    const boundary = smtpUserPermissionsBoundary();
    const principal = `arn:aws:iam::${A}:user/ses-smtp-user-app-20261128100000`;
    const identity = `arn:aws:ses:${R}:${A}:identity/example.com`;
    const asUser = (inline: PolicyDocument | string, action: string, resource: string, context: Record<string, string> = {}) =>
      evaluate({ identityPolicies: [inline], permissionsBoundary: boundary, principal, probe: { action, resource, context } });
    const own = smtpSendingPolicy(["app@example.com", "*@notify.example.com"]);
    expect(await asUser(own, "ses:SendRawEmail", identity, { "ses:FromAddress": "app@example.com" })).toBe("Allowed");
    expect(await asUser(own, "ses:SendEmail", identity, { "ses:FromAddress": "alerts@notify.example.com" })).toBe("Allowed");
    expect(await asUser(own, "ses:SendRawEmail", identity, { "ses:FromAddress": "ceo@example.com" })).toBe("ImplicitlyDenied");
    // Whatever inline policy the manager might be made to write, the boundary caps the user at sending.
    const everything = policyDocument([{ Effect: "Allow", Action: "*", Resource: "*" }]);
    for (const [action, resource] of [
      ["iam:CreateUser", `arn:aws:iam::${A}:user/attacker`],
      ["iam:AttachUserPolicy", principal],
      ["iam:CreateAccessKey", `arn:aws:iam::${A}:user/admin`],
      ["s3:GetObject", "arn:aws:s3:::ses-mail-storage-123456789012-test/emails/m1"],
      ["kms:Decrypt", `arn:aws:kms:${R}:${A}:key/any`],
      ["ses:CreateEmailIdentity", `arn:aws:ses:${R}:${A}:identity/evil.example`],
    ] as const) {
      expect({ action, decision: await asUser(everything, action, resource) }).toEqual({ action, decision: "ImplicitlyDenied" });
    }
  });

  it("the manager encrypts credentials with its key, under the credentials' context, and never decrypts", async () => {
    expect(await withKey(managerRole, [policy], "kms:Encrypt")).toBe("Allowed");
    expect(await withKey(managerRole, [policy], "kms:Encrypt", {})).toBe("ImplicitlyDenied");
    expect(await withKey(managerRole, [policy], "kms:Encrypt", { "kms:EncryptionContextKeys": ["other"] })).toBe("ImplicitlyDenied");
    expect(await withKey(managerRole, [policy], "kms:Decrypt")).toBe("ImplicitlyDenied");
    expect(
      await evaluate({
        identityPolicies: [policy],
        principal: managerRole,
        probe: { action: "kms:Encrypt", resource: `arn:aws:kms:${R}:${A}:key/another`, context: contextKeys },
      }),
    ).toBe("ImplicitlyDenied");
  });

  it("key policy: administration without use; decrypting credentials only for principals IAM grants it to", async () => {
    const administrator = `arn:aws:iam::${A}:role/administrator`;
    const kmsEverything = policyDocument([{ Effect: "Allow", Action: "kms:*", Resource: "*" }]);
    expect(await withKey(administrator, [kmsEverything], "kms:PutKeyPolicy", {})).toBe("Allowed");
    expect(await withKey(administrator, [kmsEverything], "kms:ScheduleKeyDeletion", {})).toBe("Allowed");
    expect(await withKey(administrator, [kmsEverything], "kms:Encrypt")).toBe("ImplicitlyDenied");
    expect(await withKey(administrator, [kmsEverything], "kms:CreateGrant", {})).toBe("ImplicitlyDenied");
    expect(await withKey(administrator, [kmsEverything], "kms:GenerateDataKey")).toBe("ImplicitlyDenied");
    // An operator with kms:Decrypt in IAM reads credentials (the CLI), but nothing else under this key.
    expect(await withKey(administrator, [kmsEverything], "kms:Decrypt")).toBe("Allowed");
    expect(await withKey(administrator, [kmsEverything], "kms:Decrypt", { "kms:CallerAccount": A })).toBe("ImplicitlyDenied");
    // Without an IAM grant, an account principal cannot decrypt.
    expect(await withKey(`arn:aws:iam::${A}:role/ses-mail-router-test`, [], "kms:Decrypt")).toBe("ImplicitlyDenied");
  });
});

describe("state machine and scheduler roles", () => {
  it("retry processor: drains the retry queue, invokes the forwarder, dead-letters; nothing else", async () => {
    const policy = doc(
      retryProcessorStatements({
        retryQueueArn: queue("ses-mail-gmail-forwarder-retry-test"),
        retryDeadLetterQueueArn: queue("ses-mail-gmail-forwarder-retry-dlq-test"),
        forwarderArn: fn("ses-mail-gmail-forwarder-test"),
      }),
    );
    await expectAllowed(policy, [
      { action: "sqs:ReceiveMessage", resource: queue("ses-mail-gmail-forwarder-retry-test") },
      { action: "sqs:DeleteMessage", resource: queue("ses-mail-gmail-forwarder-retry-test") },
      { action: "sqs:SendMessage", resource: queue("ses-mail-gmail-forwarder-retry-dlq-test") },
      { action: "lambda:InvokeFunction", resource: fn("ses-mail-gmail-forwarder-test") },
      { action: "logs:CreateLogDelivery", resource: "*" },
    ]);
    await expectDenied(policy, [
      { action: "sqs:SendMessage", resource: queue("ses-mail-gmail-forwarder-retry-test") },
      { action: "sqs:ReceiveMessage", resource: queue("ses-gmail-forwarder-test") },
      { action: "lambda:InvokeFunction", resource: fn("ses-mail-bouncer-test") },
      // Exactly the function it calls: no version or alias of it.
      { action: "lambda:InvokeFunction", resource: `${fn("ses-mail-gmail-forwarder-test")}:1` },
      { action: "lambda:InvokeFunction", resource: `${fn("ses-mail-gmail-forwarder-test")}:live` },
      { action: "sqs:PurgeQueue", resource: queue("ses-mail-gmail-forwarder-retry-test") },
    ]);
  });

  it("token monitor: reads token metadata of its stack and publishes only into its namespace", async () => {
    const policy = doc(tokenMonitorStatements(ctx, { metadataPath: "/ses-mail/test/gmail/token-metadata/", namespace: "SESMail/test" }));
    await expectAllowed(policy, [
      { action: "ssm:GetParametersByPath", resource: param("/ses-mail/test/gmail/token-metadata") },
      { action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "SESMail/test" } },
    ]);
    await expectDenied(policy, [
      { action: "ssm:GetParametersByPath", resource: param("/ses-mail/test/gmail/tokens") },
      { action: "ssm:GetParameter", resource: param("/ses-mail/test/gmail/tokens/me_at_gmail.com") },
      { action: "ssm:GetParametersByPath", resource: param("/ses-mail/prod/gmail/token-metadata") },
      { action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "AWS/Lambda" } },
      { action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "SESMail/prod" } },
      { action: "kms:Decrypt", resource: `arn:aws:kms:${R}:${A}:key/any` },
    ]);
  });

  it("scheduler: starts its one state machine", async () => {
    const machine = `arn:aws:states:${R}:${A}:stateMachine:ses-mail-gmail-token-monitor-test`;
    const policy = doc(schedulerStatements({ stateMachineArn: machine }));
    await expectAllowed(policy, [{ action: "states:StartExecution", resource: machine }]);
    await expectDenied(policy, [
      { action: "states:StartExecution", resource: `arn:aws:states:${R}:${A}:stateMachine:other` },
      { action: "states:StopExecution", resource: `arn:aws:states:${R}:${A}:execution:ses-mail-gmail-token-monitor-test:x` },
    ]);
  });

  it("trust policies name one service and this account", () => {
    expect(JSON.parse(trustPolicyJson(serviceTrustPolicy("lambda.amazonaws.com", A)))).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Service: "lambda.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "aws:SourceAccount": A } },
        },
      ],
    });
  });
});

describe("resource policies", () => {
  const rule = `arn:aws:ses:${R}:${A}:receipt-rule-set/ses-ruleset-test:receipt-rule/ses-mail-inbound-test`;

  const asResource = (
    resourcePolicy: PolicyDocument,
    principal: string,
    action: string,
    resource: string,
    context: Record<string, string>,
    identity?: PolicyDocument,
  ) => evaluate({ identityPolicies: identity ? [identity] : [], resourcePolicy, principal, probe: { action, resource, context } });

  it("bucket: only this account's SES, for this rule, may put raw messages; nothing without TLS", async () => {
    const policy = storageBucketPolicy({ bucketArn: bucket, accountId: A, receiptRuleArn: rule, keyPrefix: "emails/" });
    const tls = { "aws:SecureTransport": "true" };
    expect(
      await asResource(policy, "ses.amazonaws.com", "s3:PutObject", `${bucket}/emails/m1`, {
        ...tls,
        "aws:SourceAccount": A,
        "aws:SourceArn": rule,
      }),
    ).toBe("Allowed");
    expect(
      await asResource(policy, "ses.amazonaws.com", "s3:PutObject", `${bucket}/emails/m1`, {
        ...tls,
        "aws:SourceAccount": "999999999999",
        "aws:SourceArn": rule.replace(A, "999999999999"),
      }),
    ).toBe("ImplicitlyDenied");
    expect(
      await asResource(policy, "ses.amazonaws.com", "s3:PutObject", `${bucket}/emails/m1`, {
        ...tls,
        "aws:SourceAccount": A,
        "aws:SourceArn": rule.replace("ses-mail-inbound-test", "other"),
      }),
    ).toBe("ImplicitlyDenied");
    expect(
      await asResource(policy, "ses.amazonaws.com", "s3:GetObject", `${bucket}/emails/m1`, {
        ...tls,
        "aws:SourceAccount": A,
        "aws:SourceArn": rule,
      }),
    ).toBe("ImplicitlyDenied");
    const s3Admin = policyDocument([{ Effect: "Allow", Action: "s3:*", Resource: "*" }]);
    expect(
      await asResource(
        policy,
        `arn:aws:iam::${A}:role/admin`,
        "s3:GetObject",
        `${bucket}/emails/m1`,
        { "aws:SecureTransport": "false" },
        s3Admin,
      ),
    ).toBe("ExplicitlyDenied");
  });

  it("topic: only this account's SES, for this rule, may publish", async () => {
    const topic = `arn:aws:sns:${R}:${A}:ses-email-processing-test`;
    const policy = notificationTopicPolicy({ topicArn: topic, accountId: A, receiptRuleArn: rule });
    expect(await asResource(policy, "ses.amazonaws.com", "sns:Publish", topic, { "aws:SourceAccount": A, "aws:SourceArn": rule })).toBe(
      "Allowed",
    );
    expect(
      await asResource(policy, "ses.amazonaws.com", "sns:Publish", topic, { "aws:SourceAccount": "999999999999", "aws:SourceArn": rule }),
    ).toBe("ImplicitlyDenied");
    expect(await asResource(policy, "sns.amazonaws.com", "sns:Publish", topic, { "aws:SourceAccount": A })).toBe("ImplicitlyDenied");
  });

  it("MTA-STS bucket: only CloudFront, for this distribution, may read the policy file", async () => {
    const mtaBucket = "arn:aws:s3:::ses-mail-mta-sts-123456789012-test";
    const distribution = `arn:aws:cloudfront::${A}:distribution/E2EXAMPLE`;
    const policy = mtaStsBucketPolicy({ bucketArn: mtaBucket, distributionArn: distribution, objectKey: ".well-known/mta-sts.txt" });
    const tls = { "aws:SecureTransport": "true" };
    const file = `${mtaBucket}/.well-known/mta-sts.txt`;
    expect(await asResource(policy, "cloudfront.amazonaws.com", "s3:GetObject", file, { ...tls, "aws:SourceArn": distribution })).toBe(
      "Allowed",
    );
    expect(
      await asResource(policy, "cloudfront.amazonaws.com", "s3:GetObject", file, {
        ...tls,
        "aws:SourceArn": `arn:aws:cloudfront::${A}:distribution/EOTHER`,
      }),
    ).toBe("ImplicitlyDenied");
    expect(
      await asResource(policy, "cloudfront.amazonaws.com", "s3:GetObject", `${mtaBucket}/other`, { ...tls, "aws:SourceArn": distribution }),
    ).toBe("ImplicitlyDenied");
    expect(await asResource(policy, "cloudfront.amazonaws.com", "s3:PutObject", file, { ...tls, "aws:SourceArn": distribution })).toBe(
      "ImplicitlyDenied",
    );
  });

  it("queue: only the named sources of one service may send", async () => {
    const input = queue("ses-email-input-test");
    const topic = `arn:aws:sns:${R}:${A}:ses-email-processing-test`;
    const policy = queueSendPolicy({ queueArn: input, service: "sns.amazonaws.com", sourceArns: [topic] });
    expect(await asResource(policy, "sns.amazonaws.com", "sqs:SendMessage", input, { "aws:SourceArn": topic })).toBe("Allowed");
    expect(await asResource(policy, "sns.amazonaws.com", "sqs:SendMessage", input, { "aws:SourceArn": `${topic}-other` })).toBe(
      "ImplicitlyDenied",
    );
    expect(await asResource(policy, "events.amazonaws.com", "sqs:SendMessage", input, { "aws:SourceArn": topic })).toBe("ImplicitlyDenied");
  });
});
