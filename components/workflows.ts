/**
 * The two state machine definitions (Amazon States Language, JSONata query language), as pure
 * functions of plain ARNs and URLs. Tests validate them with asl-validator and evaluate the JSONata
 * expressions with the jsonata package.
 */

/* ------------------------------------------------------------------------------------------------
 * Retry processor: replays the Gmail forwarder's retry queue after the OAuth token is refreshed.
 *
 * Contract with the forwarder: each retry-queue message body is passed UNCHANGED as the `body` of a
 * synthetic SQS record `{ Records: [{ messageId, receiptHandle, body, attributes, … }] }`; the retry
 * message is deleted only when the response's `batchItemFailures` is an empty list. A failure is tried
 * again after 30, 60 and 120 s, then the message moves to the retry DLQ (body unchanged). The queue is
 * drained until a receive comes back empty, or MAX_BATCHES_PER_EXECUTION batches, whichever is first.
 * ---------------------------------------------------------------------------------------------- */

/** Messages per receive (the SQS maximum). */
export const RETRY_BATCH_SIZE = 10;
/**
 * Batches per execution. A bound on the drain loop: should the forwarder ever put a message back on
 * the retry queue while reporting success, one execution still ends (the hourly schedule continues).
 */
export const MAX_BATCHES_PER_EXECUTION = 50;
/** Backoff of a failed message: 30 s, then 60 s, then 120 s (IntervalSeconds × BackoffRate^n). */
export const RETRY_BACKOFF = { intervalSeconds: 30, backoffRate: 2, maxAttempts: 3 } as const;
/** Long-poll wait of the drain loop's receive, so a near-empty queue is not mistaken for an empty one. */
export const RETRY_RECEIVE_WAIT_SECONDS = 5;

/** The waits between attempts, in seconds: [30, 60, 120]. */
export function retryBackoffSeconds(): number[] {
  return Array.from({ length: RETRY_BACKOFF.maxAttempts }, (_, n) => RETRY_BACKOFF.intervalSeconds * RETRY_BACKOFF.backoffRate ** n);
}

/**
 * How long a received retry message must stay invisible: every attempt may run the forwarder to its
 * timeout, plus the backoff waits, plus a minute for the delete. Otherwise a slow message would
 * reappear and be delivered twice.
 */
export function retryVisibilitySeconds(forwarderTimeoutSeconds: number): number {
  const attempts = RETRY_BACKOFF.maxAttempts + 1;
  const waits = retryBackoffSeconds().reduce((sum, seconds) => sum + seconds, 0);
  return attempts * forwarderTimeoutSeconds + waits + 60;
}

export interface RetryProcessorDefinitionArgs {
  readonly retryQueueUrl: string;
  readonly retryQueueArn: string;
  readonly retryDeadLetterQueueUrl: string;
  readonly forwarderArn: string;
  readonly region: string;
  readonly forwarderTimeoutSeconds: number;
}

/**
 * The parameters of the drain loop's receive: only ones the SQS ReceiveMessage API (and so the Step
 * Functions SDK integration, which passes them through) has long documented. No system attributes are
 * asked for: the forwarder reads none, and the newer `MessageSystemAttributeNames` and the deprecated
 * `AttributeNames` are both avoided.
 */
export const RETRY_RECEIVE_PARAMETERS = ["QueueUrl", "MaxNumberOfMessages", "WaitTimeSeconds", "VisibilityTimeout"] as const;

/** The synthetic SQS record the forwarder receives for one retry message (JSONata, `$states.input` = the message). */
export function retryRecordTemplate(retryQueueArn: string, region: string): Record<string, unknown> {
  return {
    messageId: "{% $states.input.MessageId %}",
    receiptHandle: "{% $states.input.ReceiptHandle %}",
    body: "{% $states.input.Body %}",
    attributes: "{% $exists($states.input.Attributes) ? $states.input.Attributes : {} %}",
    messageAttributes: {},
    md5OfBody: "{% $states.input.MD5OfBody %}",
    eventSource: "aws:sqs",
    eventSourceARN: retryQueueArn,
    awsRegion: region,
  };
}

/** Success means the forwarder said so explicitly: a `batchItemFailures` list, and an empty one. */
export const FORWARDER_SUCCEEDED = "$exists($states.input.batchItemFailures) and $count($states.input.batchItemFailures) = 0";

const TRANSIENT_RETRY = [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2 }];

export function retryProcessorDefinition(args: RetryProcessorDefinitionArgs): Record<string, unknown> {
  const deleteMessage = (outcome: string) => ({
    Type: "Task",
    Resource: "arn:aws:states:::aws-sdk:sqs:deleteMessage",
    Arguments: { QueueUrl: args.retryQueueUrl, ReceiptHandle: "{% $states.input.ReceiptHandle %}" },
    Output: `{% { 'messageId': $states.input.MessageId, 'outcome': '${outcome}' } %}`,
    Retry: TRANSIENT_RETRY,
    // A message whose receipt handle lapsed reappears later and is retried then.
    Catch: [
      {
        ErrorEquals: ["States.ALL"],
        Next: "DeleteFailed",
        Output: "{% { 'messageId': $states.input.MessageId, 'outcome': 'delete-failed' } %}",
      },
    ],
    End: true,
  });

  return {
    Comment:
      "Replays the Gmail forwarder's retry queue: each message is handed to the forwarder unchanged, deleted on success, dead-lettered after 30/60/120 s backoff.",
    QueryLanguage: "JSONata",
    StartAt: "Start",
    States: {
      Start: { Type: "Pass", Assign: { batches: 0 }, Next: "ReceiveBatch" },
      ReceiveBatch: {
        Type: "Task",
        Resource: "arn:aws:states:::aws-sdk:sqs:receiveMessage",
        Arguments: {
          QueueUrl: args.retryQueueUrl,
          MaxNumberOfMessages: RETRY_BATCH_SIZE,
          WaitTimeSeconds: RETRY_RECEIVE_WAIT_SECONDS,
          VisibilityTimeout: retryVisibilitySeconds(args.forwarderTimeoutSeconds),
        },
        Assign: {
          messages: "{% $exists($states.result.Messages) ? $states.result.Messages : [] %}",
          batches: "{% $batches + 1 %}",
        },
        Retry: TRANSIENT_RETRY,
        Next: "AnyMessages",
      },
      AnyMessages: {
        Type: "Choice",
        Choices: [{ Condition: "{% $count($messages) > 0 %}", Next: "ReplayBatch" }],
        Default: "Drained",
      },
      ReplayBatch: {
        Type: "Map",
        Items: "{% $messages %}",
        MaxConcurrency: RETRY_BATCH_SIZE,
        ItemProcessor: {
          ProcessorConfig: { Mode: "INLINE" },
          StartAt: "Deliver",
          States: {
            Deliver: {
              Type: "Parallel",
              Comment: "The branch fails when the forwarder reports a failure, so the Retry below applies the backoff.",
              Branches: [
                {
                  StartAt: "InvokeForwarder",
                  States: {
                    InvokeForwarder: {
                      Type: "Task",
                      Resource: "arn:aws:states:::lambda:invoke",
                      Arguments: {
                        FunctionName: args.forwarderArn,
                        Payload: { Records: [retryRecordTemplate(args.retryQueueArn, args.region)] },
                      },
                      Output: "{% $states.result.Payload %}",
                      Next: "ForwarderSucceeded",
                    },
                    ForwarderSucceeded: {
                      Type: "Choice",
                      Choices: [{ Condition: `{% ${FORWARDER_SUCCEEDED} %}`, Next: "Delivered" }],
                      Default: "ForwarderReportedFailure",
                    },
                    Delivered: { Type: "Succeed" },
                    ForwarderReportedFailure: {
                      Type: "Fail",
                      Error: "ForwarderReportedFailure",
                      Cause: "batchItemFailures was not an empty list",
                    },
                  },
                },
              ],
              Output: "{% $states.input %}",
              Retry: [
                {
                  ErrorEquals: ["States.ALL"],
                  IntervalSeconds: RETRY_BACKOFF.intervalSeconds,
                  BackoffRate: RETRY_BACKOFF.backoffRate,
                  MaxAttempts: RETRY_BACKOFF.maxAttempts,
                  JitterStrategy: "NONE",
                },
              ],
              Catch: [
                {
                  ErrorEquals: ["States.ALL"],
                  Next: "MoveToDeadLetterQueue",
                  Output: "{% $merge([$states.input, { 'failure': $states.errorOutput }]) %}",
                },
              ],
              Next: "DeleteDelivered",
            },
            DeleteDelivered: deleteMessage("delivered"),
            MoveToDeadLetterQueue: {
              Type: "Task",
              Resource: "arn:aws:states:::sqs:sendMessage",
              Arguments: {
                QueueUrl: args.retryDeadLetterQueueUrl,
                MessageBody: "{% $states.input.Body %}",
                MessageAttributes: {
                  "ses-mail-error": { DataType: "String", StringValue: "{% $string($states.input.failure.Error) %}" },
                  "ses-mail-cause": { DataType: "String", StringValue: "{% $substring($string($states.input.failure.Cause), 0, 1000) %}" },
                },
              },
              Output: "{% $states.input %}",
              Retry: TRANSIENT_RETRY,
              Next: "DeleteDeadLettered",
            },
            DeleteDeadLettered: deleteMessage("dead-lettered"),
            DeleteFailed: { Type: "Pass", End: true },
          },
        },
        Next: "MoreBatches",
      },
      MoreBatches: {
        Type: "Choice",
        Choices: [{ Condition: `{% $batches < ${MAX_BATCHES_PER_EXECUTION} %}`, Next: "ReceiveBatch" }],
        Default: "Drained",
      },
      Drained: { Type: "Succeed" },
    },
  };
}

/* ------------------------------------------------------------------------------------------------
 * Token monitor: publishes how long the Gmail refresh tokens have left.
 * ---------------------------------------------------------------------------------------------- */

export const TOKEN_METRIC_NAME = "TokenSecondsUntilExpiration";
export const TOKEN_ACCOUNT_DIMENSION = "Account";
/**
 * Published when a token's expiry is unknown: no metadata parameter at all, a placeholder, a value
 * that is not JSON, or `expires_at_epoch` missing or null. It is below both alarm thresholds, so
 * "unknown" raises the critical alarm instead of publishing nothing. (An expired token gives a
 * negative countdown too; -1 exactly reads as "unknown" on the dashboard.)
 */
export const UNKNOWN_EXPIRY_SECONDS = -1;
/** Metadata values read per GetParametersByPath page (the API's maximum). */
export const METADATA_PAGE_SIZE = 10;

/**
 * The JSONata expression that turns `$parameters` (every metadata parameter, as GetParametersByPath
 * returns them) into PutMetricData's MetricData: the minimum over accounts without dimensions (what
 * the alarms watch), then one datum per account with an `Account` dimension (the key under the prefix).
 * `$parse` is Step Functions' JSON parser; `$millis` is the current time. One line: a state
 * machine's `{% … %}` expressions are single-line strings.
 */
export function tokenMetricDataExpression(metadataPrefix: string): string {
  const prefix = metadataPrefix.replace(/'/g, "");
  return [
    "(",
    "  $now := $millis() / 1000;",
    "  $secondsLeft := function($value) {(",
    "    $meta := $type($value) = 'string' and $contains($value, /^\\s*\\{/) ? $parse($value) : null;",
    "    $epoch := $meta.expires_at_epoch;",
    `    $type($epoch) = 'number' ? $round($epoch - $now) : ${UNKNOWN_EXPIRY_SECONDS}`,
    "  )};",
    `  $accounts := [$parameters.{ 'account': $substringAfter(Name, '${prefix}'), 'seconds': $secondsLeft(Value) }];`,
    `  $minimum := $count($accounts) = 0 ? ${UNKNOWN_EXPIRY_SECONDS} : $min($accounts.seconds);`,
    "  $append(",
    `    [{ 'MetricName': '${TOKEN_METRIC_NAME}', 'Value': $minimum, 'Unit': 'Seconds' }],`,
    `    [$accounts.{ 'MetricName': '${TOKEN_METRIC_NAME}', 'Value': seconds, 'Unit': 'Seconds', 'Dimensions': [{ 'Name': '${TOKEN_ACCOUNT_DIMENSION}', 'Value': account }] }]`,
    "  )",
    ")",
  ]
    .map((line) => line.trim())
    .join(" ");
}

export interface TokenMonitorDefinitionArgs {
  /** `tokenMetadataPrefix(env)`: `/ses-mail/{env}/gmail/token-metadata/`. */
  readonly metadataPrefix: string;
  /** `SESMail/{env}`. */
  readonly namespace: string;
}

export function tokenMonitorDefinition(args: TokenMonitorDefinitionArgs): Record<string, unknown> {
  const path = args.metadataPrefix.replace(/\/$/, "");
  return {
    Comment: "Publishes the seconds until each Gmail refresh token expires (and their minimum) to CloudWatch.",
    QueryLanguage: "JSONata",
    StartAt: "Start",
    States: {
      Start: { Type: "Pass", Assign: { parameters: [], nextToken: null }, Next: "ReadTokenMetadata" },
      ReadTokenMetadata: {
        Type: "Task",
        Resource: "arn:aws:states:::aws-sdk:ssm:getParametersByPath",
        Arguments: `{% $merge([{ 'Path': '${path}', 'Recursive': false, 'WithDecryption': false, 'MaxResults': ${METADATA_PAGE_SIZE} }, $nextToken = null ? {} : { 'NextToken': $nextToken }]) %}`,
        Assign: {
          parameters: "{% $append($parameters, $exists($states.result.Parameters) ? $states.result.Parameters : []) %}",
          nextToken: "{% $exists($states.result.NextToken) ? $states.result.NextToken : null %}",
        },
        Retry: TRANSIENT_RETRY,
        Next: "MorePages",
      },
      MorePages: {
        Type: "Choice",
        Choices: [{ Condition: "{% $nextToken != null %}", Next: "ReadTokenMetadata" }],
        Default: "PublishCountdown",
      },
      PublishCountdown: {
        Type: "Task",
        Resource: "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
        Arguments: { Namespace: args.namespace, MetricData: `{% ${tokenMetricDataExpression(args.metadataPrefix)} %}` },
        Output: "{% { 'accounts': $count($parameters) } %}",
        Retry: TRANSIENT_RETRY,
        End: true,
      },
    },
  };
}
