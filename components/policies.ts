/**
 * Every IAM policy of a stack, as pure builders over plain ARNs: identity policies of the roles and
 * resource policies of the bucket, topic, queues, log group and KMS key. Components apply them to
 * resolved Outputs; the least-privilege tests evaluate the very same documents with an IAM simulator.
 *
 * Rules: exact actions on exact resource ARNs. `*` resources only where AWS supports nothing narrower
 * (X-Ray, `cloudwatch:PutMetricData` with a namespace condition, Step Functions' log delivery APIs,
 * `dynamodb:ListStreams`), for the SMTP users' boundary (whose own policies narrow it), and in explicit
 * denies.
 */
import { SMTP_SEND_ACTIONS } from "../core/smtp-credentials";
import { ROUTE_KEY_PREFIX } from "../core/table";
import type { AwsContext } from "./arns";
import { accountRootArn, iamUserArnPattern, logStreamsArn, sesIdentityArn, ssmParameterArn } from "./arns";

export type Effect = "Allow" | "Deny";
export type ConditionBlock = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
export type Principal = "*" | Readonly<Partial<Record<"Service" | "AWS", string | readonly string[]>>>;

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: Effect;
  readonly Principal?: Principal;
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: ConditionBlock;
}

export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

export function policyDocument(statements: readonly PolicyStatement[]): PolicyDocument {
  return { Version: "2012-10-17", Statement: statements };
}

/** Sids are alphanumeric; derive one from a readable label. */
function sid(label: string): string {
  return label.replace(/[^A-Za-z0-9]/g, "");
}

function allow(label: string, actions: readonly string[], resources: readonly string[], condition?: ConditionBlock): PolicyStatement {
  return {
    Sid: sid(label),
    Effect: "Allow",
    Action: [...actions],
    Resource: [...resources],
    ...(condition ? { Condition: condition } : {}),
  };
}

/* ------------------------------------------------------------------------------------------------
 * Trust policies
 * ---------------------------------------------------------------------------------------------- */

/** Who may assume a role: one AWS service, from this account only (confused-deputy guard). */
export function serviceTrustPolicy(service: string, accountId?: string): PolicyDocument {
  return policyDocument([
    {
      Effect: "Allow",
      Principal: { Service: service },
      Action: "sts:AssumeRole",
      Resource: "*",
      ...(accountId ? { Condition: { StringEquals: { "aws:SourceAccount": accountId } } } : {}),
    },
  ]);
}

/**
 * Trust policies carry no Resource element; the shared PolicyStatement type always has one, so it is
 * dropped when the document is serialized.
 */
export function trustPolicyJson(doc: PolicyDocument): string {
  return JSON.stringify({
    Version: doc.Version,
    Statement: doc.Statement.map((statement) => {
      const { Resource: _resource, ...rest } = statement;
      return rest;
    }),
  });
}

/* ------------------------------------------------------------------------------------------------
 * Building blocks of identity policies
 * ---------------------------------------------------------------------------------------------- */

/** A Lambda function writes to its own, pre-created log group only (no logs:CreateLogGroup). */
export function functionLoggingStatement(logGroupArn: string): PolicyStatement {
  return allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [logStreamsArn(logGroupArn)]);
}

/** X-Ray has no resource-level permissions: AWS requires `*`. */
export function xrayStatement(): PolicyStatement {
  return allow("XRayTracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]);
}

/** What a Lambda event source mapping on an SQS queue needs from the function's role. */
export function sqsEventSourceStatement(queueArn: string): PolicyStatement {
  return allow(
    "ConsumeQueue",
    ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
    [queueArn],
  );
}

/**
 * What a Lambda event source mapping on a DynamoDB stream needs from the function's role: reading the
 * one stream, and `dynamodb:ListStreams`, which has no resource-level permissions (AWS requires `*`).
 */
export function dynamodbStreamStatements(streamArn: string): PolicyStatement[] {
  return [
    allow("ReadTableStream", ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], [streamArn]),
    allow("ListTableStreams", ["dynamodb:ListStreams"], ["*"]),
  ];
}

/** Publishing custom metrics: PutMetricData has no resource; the namespace condition is the scope. */
export function putMetricDataStatement(namespace: string): PolicyStatement {
  return allow("PublishMetrics", ["cloudwatch:PutMetricData"], ["*"], { StringEquals: { "cloudwatch:namespace": namespace } });
}

/**
 * Items whose partition key matches these patterns, and no others. `ForAllValues` is true for an empty
 * set, so the `Null` test insists that the request names its keys.
 */
export function leadingKeys(patterns: readonly string[]): ConditionBlock {
  return { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [...patterns] }, Null: { "dynamodb:LeadingKeys": "false" } };
}

/** The statements every ses-mail function gets: its own logs and X-Ray. */
export function baseFunctionStatements(logGroupArn: string): PolicyStatement[] {
  return [functionLoggingStatement(logGroupArn), xrayStatement()];
}

/* ------------------------------------------------------------------------------------------------
 * Roles
 * ---------------------------------------------------------------------------------------------- */

/**
 * Router: reads rules with BatchGetItem (all candidate keys of a batch in one round trip), and only
 * rule items: the table also holds SMTP users' encrypted credentials, which the router has no reason
 * to read.
 */
export function routerStatements(args: { tableArn: string }): PolicyStatement[] {
  return [allow("ReadRoutingRules", ["dynamodb:BatchGetItem"], [args.tableArn], leadingKeys([`${ROUTE_KEY_PREFIX}*`]))];
}

/**
 * Gmail forwarder (the AWS actions handlers/gmail-forwarder.ts lists in its header): read and delete
 * raw messages, list the bucket (so a missing object is a 404), read the OAuth client and the refresh
 * tokens (SecureStrings under the AWS-managed aws/ssm key, whose key policy already admits the account's
 * principals through SSM), keep idempotency and progress items in the routing table and no other items,
 * park deliveries in the retry queue, and consume its own queue.
 */
export function gmailForwarderStatements(
  ctx: AwsContext,
  args: {
    bucketArn: string;
    keyPrefix: string;
    tableArn: string;
    retryQueueArn: string;
    queueArn: string;
    oauthClientParameter: string;
    refreshTokenPrefix: string;
    idempotencyPartition: string;
    messageKeyPrefix: string;
  },
): PolicyStatement[] {
  return [
    allow("ReadAndDeleteRawMessages", ["s3:GetObject", "s3:DeleteObject"], [`${args.bucketArn}/${args.keyPrefix}*`]),
    allow("ListBucketSoMissingIsNotFound", ["s3:ListBucket"], [args.bucketArn]),
    allow(
      "ReadGmailSecrets",
      ["ssm:GetParameter"],
      [ssmParameterArn(ctx, args.oauthClientParameter), ssmParameterArn(ctx, `${args.refreshTokenPrefix}*`)],
    ),
    allow(
      "DeliveryStateItems",
      ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
      [args.tableArn],
      leadingKeys([args.idempotencyPartition, `${args.messageKeyPrefix}*`]),
    ),
    allow("ParkForRetry", ["sqs:SendMessage"], [args.retryQueueArn]),
    sqsEventSourceStatement(args.queueArn),
  ];
}

/**
 * Bouncer (the AWS actions handlers/bouncer.ts lists in its header): read the original's header block
 * and delete the raw message when it is the last consumer, list the bucket (404 rather than 403), send
 * reports through SES as `MAILER-DAEMON@<domain>` of the stack's own domains only, claim and release
 * throttle items, update message progress, and consume its own queue.
 */
export function bouncerStatements(
  ctx: AwsContext,
  args: {
    bucketArn: string;
    keyPrefix: string;
    tableArn: string;
    queueArn: string;
    domains: readonly string[];
    throttleKeyPrefix: string;
    messageKeyPrefix: string;
  },
): PolicyStatement[] {
  return [
    allow("ReadAndDeleteRawMessages", ["s3:GetObject", "s3:DeleteObject"], [`${args.bucketArn}/${args.keyPrefix}*`]),
    allow("ListBucketSoMissingIsNotFound", ["s3:ListBucket"], [args.bucketArn]),
    allow(
      "SendReportsAsMailerDaemon",
      ["ses:SendRawEmail"],
      args.domains.map((domain) => sesIdentityArn(ctx, domain)),
      { StringLike: { "ses:FromAddress": args.domains.map((domain) => `MAILER-DAEMON@${domain}`) } },
    ),
    allow("BounceThrottleItems", ["dynamodb:PutItem", "dynamodb:DeleteItem"], [args.tableArn], leadingKeys([`${args.throttleKeyPrefix}*`])),
    allow("MessageProgressItems", ["dynamodb:UpdateItem"], [args.tableArn], leadingKeys([`${args.messageKeyPrefix}*`])),
    sqsEventSourceStatement(args.queueArn),
  ];
}

/**
 * IAM actions that decide what an SMTP user may do. The manager may call them only while the user
 * carries the stack's permissions boundary (`iam:PermissionsBoundary`), so whatever policy it writes,
 * the user can do no more than the boundary allows.
 */
export const SMTP_USER_BOUNDED_IAM_ACTIONS: readonly string[] = ["iam:CreateUser", "iam:PutUserPolicy", "iam:PutUserPermissionsBoundary"];

/** The other IAM actions the credential manager calls on the SMTP users it names: reading, keys, deleting. */
export const SMTP_USER_IAM_ACTIONS: readonly string[] = [
  "iam:GetUser",
  "iam:DeleteUser",
  "iam:GetUserPolicy",
  "iam:DeleteUserPolicy",
  "iam:ListUserPolicies",
  "iam:CreateAccessKey",
  "iam:ListAccessKeys",
  "iam:DeleteAccessKey",
];

/**
 * The permissions boundary of every SMTP user: sending through SES and nothing else. A user's own
 * policy narrows it further to its allowed From addresses (core/smtp-credentials.ts).
 */
export function smtpUserPermissionsBoundary(): PolicyDocument {
  return policyDocument([allow("OnlySendThroughSes", [...SMTP_SEND_ACTIONS], ["*"])]);
}

/** Encryption with the SMTP credential key must carry the credentials' encryption context key. */
export function smtpEncryptionContextCondition(contextKey: string): ConditionBlock {
  return { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": [contextKey] }, Null: { "kms:EncryptionContextKeys": "false" } };
}

/**
 * SMTP credential manager (the AWS actions handlers/credential-manager.ts lists in its header): manage
 * IAM users under the SMTP user prefix only (never another user), and create them or write their
 * policies only with the stack's permissions boundary: the role cannot mint a user with more than SES
 * sending, and explicit denies keep it so even if someone grants the role more. Encrypt (never
 * decrypt) with the stack's credential key under the credentials' encryption context, read and update
 * SMTP user items of the routing table only, read the table's stream and dead-letter what keeps failing.
 */
export function credentialManagerStatements(
  ctx: AwsContext,
  args: {
    userNamePrefix: string;
    permissionsBoundaryArn: string;
    tableArn: string;
    streamArn: string;
    keyArn: string;
    deadLetterQueueArn: string;
    smtpUserKeyPrefix: string;
    encryptionContextKey: string;
  },
): PolicyStatement[] {
  const users = iamUserArnPattern(ctx, args.userNamePrefix);
  return [
    allow("WriteSmtpUsersWithinBoundary", [...SMTP_USER_BOUNDED_IAM_ACTIONS], [users], {
      StringEquals: { "iam:PermissionsBoundary": args.permissionsBoundaryArn },
    }),
    {
      Sid: "NeverWithoutTheBoundary",
      Effect: "Deny",
      Action: [...SMTP_USER_BOUNDED_IAM_ACTIONS],
      Resource: "*",
      // A missing key makes a negated operator true: no boundary is denied too.
      Condition: { StringNotEquals: { "iam:PermissionsBoundary": args.permissionsBoundaryArn } },
    },
    { Sid: "NeverLiftTheBoundary", Effect: "Deny", Action: ["iam:DeleteUserPermissionsBoundary"], Resource: "*" },
    allow("ManageSmtpUsers", [...SMTP_USER_IAM_ACTIONS], [users]),
    allow("EncryptCredentials", ["kms:Encrypt"], [args.keyArn], smtpEncryptionContextCondition(args.encryptionContextKey)),
    allow("SmtpUserItems", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [args.tableArn], leadingKeys([`${args.smtpUserKeyPrefix}*`])),
    ...dynamodbStreamStatements(args.streamArn),
    allow("DeadLetterFailedRecords", ["sqs:SendMessage"], [args.deadLetterQueueArn]),
  ];
}

/** The Pipe: poll the input queue, call the router, put decisions on the bus, write its log group. */
export function pipeStatements(args: { inputQueueArn: string; routerArn: string; busArn: string; logGroupArn: string }): PolicyStatement[] {
  return [
    allow("PollInputQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], [args.inputQueueArn]),
    allow("InvokeRouter", ["lambda:InvokeFunction"], [args.routerArn]),
    allow("PutDecisions", ["events:PutEvents"], [args.busArn]),
    allow("WritePipeLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [logStreamsArn(args.logGroupArn)]),
  ];
}

/**
 * Step Functions delivers logs through CloudWatch Logs' vended-log APIs, which take no resource ARN:
 * AWS documents `*` for them (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
 */
export function stateMachineLoggingStatement(): PolicyStatement {
  return allow(
    "DeliverExecutionLogs",
    [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ],
    ["*"],
  );
}

/** X-Ray for a state machine with tracing on (no resource-level permissions). */
export function stateMachineTracingStatement(): PolicyStatement {
  return allow(
    "XRayTracing",
    ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
    ["*"],
  );
}

/** Retry processor: drain the retry queue, invoke the forwarder, park what still fails in the retry DLQ. */
export function retryProcessorStatements(args: {
  retryQueueArn: string;
  retryDeadLetterQueueArn: string;
  forwarderArn: string;
}): PolicyStatement[] {
  return [
    allow("DrainRetryQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage"], [args.retryQueueArn]),
    allow("ParkInRetryDeadLetterQueue", ["sqs:SendMessage"], [args.retryDeadLetterQueueArn]),
    // Exactly the unqualified ARN the state machine invokes: no version or alias of it.
    allow("InvokeForwarder", ["lambda:InvokeFunction"], [args.forwarderArn]),
    stateMachineLoggingStatement(),
    stateMachineTracingStatement(),
  ];
}

/**
 * Token monitor: read token metadata under its path (plain String parameters: no KMS) and publish
 * the countdown metric into the stack's namespace.
 */
export function tokenMonitorStatements(ctx: AwsContext, args: { metadataPath: string; namespace: string }): PolicyStatement[] {
  const path = args.metadataPath.replace(/\/$/, "");
  return [
    allow("ReadTokenMetadata", ["ssm:GetParametersByPath"], [ssmParameterArn(ctx, path), ssmParameterArn(ctx, `${path}/*`)]),
    putMetricDataStatement(args.namespace),
    stateMachineLoggingStatement(),
    stateMachineTracingStatement(),
  ];
}

/** EventBridge Scheduler starts one state machine. */
export function schedulerStatements(args: { stateMachineArn: string }): PolicyStatement[] {
  return [allow("StartStateMachine", ["states:StartExecution"], [args.stateMachineArn])];
}

/* ------------------------------------------------------------------------------------------------
 * Resource policies
 * ---------------------------------------------------------------------------------------------- */

/** Refuse any request to the bucket that is not over TLS. */
function denyInsecureTransport(bucketArn: string): PolicyStatement {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}

/** SES of this account, acting for our receipt rule only, may write raw messages under the prefix. */
export function storageBucketPolicy(args: {
  bucketArn: string;
  accountId: string;
  receiptRuleArn: string;
  keyPrefix: string;
}): PolicyDocument {
  return policyDocument([
    {
      Sid: "AllowSesPutObject",
      Effect: "Allow",
      Principal: { Service: "ses.amazonaws.com" },
      Action: "s3:PutObject",
      Resource: `${args.bucketArn}/${args.keyPrefix}*`,
      Condition: { StringEquals: { "aws:SourceAccount": args.accountId }, ArnLike: { "aws:SourceArn": args.receiptRuleArn } },
    },
    denyInsecureTransport(args.bucketArn),
  ]);
}

/**
 * The MTA-STS bucket: only CloudFront, serving this stack's distribution, may read the policy file
 * (origin access control signs its requests); nothing without TLS.
 */
export function mtaStsBucketPolicy(args: { bucketArn: string; distributionArn: string; objectKey: string }): PolicyDocument {
  return policyDocument([
    {
      Sid: "AllowCloudFrontToReadThePolicy",
      Effect: "Allow",
      Principal: { Service: "cloudfront.amazonaws.com" },
      Action: "s3:GetObject",
      Resource: `${args.bucketArn}/${args.objectKey}`,
      Condition: { StringEquals: { "AWS:SourceArn": args.distributionArn } },
    },
    denyInsecureTransport(args.bucketArn),
  ]);
}

/** SES of this account, acting for our receipt rule only, may publish notifications. */
export function notificationTopicPolicy(args: { topicArn: string; accountId: string; receiptRuleArn: string }): PolicyDocument {
  return policyDocument([
    {
      Sid: "AllowSesPublish",
      Effect: "Allow",
      Principal: { Service: "ses.amazonaws.com" },
      Action: "SNS:Publish",
      Resource: args.topicArn,
      Condition: { StringEquals: { "aws:SourceAccount": args.accountId }, ArnLike: { "aws:SourceArn": args.receiptRuleArn } },
    },
  ]);
}

/** A queue that one or more AWS service sources (SNS topic, EventBridge rules) may send to. */
export function queueSendPolicy(args: {
  queueArn: string;
  service: "sns.amazonaws.com" | "events.amazonaws.com";
  sourceArns: readonly string[];
}): PolicyDocument {
  return policyDocument([
    {
      Sid: "AllowSourcesToSend",
      Effect: "Allow",
      Principal: { Service: args.service },
      Action: "sqs:SendMessage",
      Resource: args.queueArn,
      Condition: { ArnEquals: { "aws:SourceArn": [...args.sourceArns] } },
    },
  ]);
}

/**
 * EventBridge may write the decision log group (and no other). This is the form the EventBridge guide
 * documents for CloudWatch Logs targets; it documents no source condition for it, so none is relied on.
 */
export function eventsLogResourcePolicy(args: { logGroupArn: string }): PolicyDocument {
  return policyDocument([
    {
      Sid: "EventBridgeToDecisionLog",
      Effect: "Allow",
      Principal: { Service: ["events.amazonaws.com", "delivery.logs.amazonaws.com"] },
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: logStreamsArn(args.logGroupArn),
    },
  ]);
}

/**
 * Key administration without use: the account can manage (and delete) the key but not encrypt or
 * decrypt with it. Listed one by one rather than `kms:Create*`, which would include `kms:CreateGrant`
 * (a grant is a way to use the key).
 */
export const KMS_ADMIN_ACTIONS: readonly string[] = [
  "kms:DescribeKey",
  "kms:GetKeyPolicy",
  "kms:PutKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:EnableKeyRotation",
  "kms:DisableKeyRotation",
  "kms:ListKeyRotations",
  "kms:RotateKeyOnDemand",
  "kms:EnableKey",
  "kms:DisableKey",
  "kms:UpdateKeyDescription",
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:ListAliases",
  "kms:ListGrants",
  "kms:RevokeGrant",
  "kms:ListKeyPolicies",
  "kms:ListResourceTags",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
];

/**
 * The SMTP credential key. The account administers it (so it never becomes unmanageable) but cannot
 * use it through that; only the credential manager's role encrypts (the seed: only the manager);
 * decrypting is delegated to IAM in this account, for credential ciphertexts only, so an operator whose
 * IAM policy grants kms:Decrypt on this key can read a user's SMTP password with the CLI
 * (core/smtp-credentials.ts). The manager's own role is never granted Decrypt.
 */
export function credentialKeyPolicy(ctx: AwsContext, args: { managerRoleArn: string; encryptionContextKey: string }): PolicyDocument {
  const context = smtpEncryptionContextCondition(args.encryptionContextKey);
  return policyDocument([
    {
      Sid: "AccountAdministersKey",
      Effect: "Allow",
      Principal: { AWS: accountRootArn(ctx) },
      Action: [...KMS_ADMIN_ACTIONS],
      Resource: "*",
    },
    {
      Sid: "CredentialManagerEncrypts",
      Effect: "Allow",
      Principal: { AWS: args.managerRoleArn },
      Action: ["kms:Encrypt"],
      Resource: "*",
      Condition: context,
    },
    {
      Sid: "IamGrantedReadersDecryptCredentials",
      Effect: "Allow",
      Principal: { AWS: accountRootArn(ctx) },
      Action: ["kms:Decrypt"],
      Resource: "*",
      Condition: { ...context, StringEquals: { "kms:CallerAccount": ctx.accountId } },
    },
  ]);
}
