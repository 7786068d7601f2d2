/**
 * The state machine definitions: valid Amazon States Language (asl-validator), and their JSONata
 * evaluated on sample input with the jsonata package (`$states` and Step Functions' `$parse` bound by hand).
 */
import {
  FORWARDER_SUCCEEDED,
  MAX_BATCHES_PER_EXECUTION,
  retryBackoffSeconds,
  retryProcessorDefinition,
  retryRecordTemplate,
  RETRY_RECEIVE_PARAMETERS,
  retryVisibilitySeconds,
  TOKEN_METRIC_NAME,
  tokenMetricDataExpression,
  tokenMonitorDefinition,
  UNKNOWN_EXPIRY_SECONDS,
} from "../../components/workflows";
import { TOKEN_CRITICAL_SECONDS } from "../../components/monitoring";
import { evaluateTemplate } from "../helpers/state-machine";
import { PARAMETER_PLACEHOLDER, tokenMetadataPrefix } from "../../core/parameters";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- asl-validator exports the function itself
const validate = require("asl-validator") as (definition: unknown) => { isValid: boolean; errors: unknown[] };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jsonata = require("jsonata") as (expression: string) => {
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
};

const retryArgs = {
  retryQueueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/ses-mail-gmail-forwarder-retry-test",
  retryQueueArn: "arn:aws:sqs:eu-west-2:123456789012:ses-mail-gmail-forwarder-retry-test",
  retryDeadLetterQueueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/ses-mail-gmail-forwarder-retry-dlq-test",
  forwarderArn: "arn:aws:lambda:eu-west-2:123456789012:function:ses-mail-gmail-forwarder-test",
  region: "eu-west-2",
  forwarderTimeoutSeconds: 300,
};

/** Evaluates a `{% … %}` template string (or returns a plain value) as Step Functions would. */
const template = evaluateTemplate;

type States = Record<string, Record<string, unknown>>;
const statesOf = (definition: Record<string, unknown>) => definition.States as States;

describe("retry processor definition", () => {
  const definition = retryProcessorDefinition(retryArgs);
  const states = statesOf(definition);
  const item = (states.ReplayBatch!.ItemProcessor as { States: States }).States;

  it("is valid ASL", () => {
    expect(validate(definition)).toMatchObject({ isValid: true, errors: [] });
  });

  it("backs off 30, 60 and 120 s, then moves the message to the retry DLQ", () => {
    expect(retryBackoffSeconds()).toEqual([30, 60, 120]);
    expect(item.Deliver!.Retry).toEqual([
      { ErrorEquals: ["States.ALL"], IntervalSeconds: 30, BackoffRate: 2, MaxAttempts: 3, JitterStrategy: "NONE" },
    ]);
    expect(item.Deliver!.Catch).toEqual([expect.objectContaining({ ErrorEquals: ["States.ALL"], Next: "MoveToDeadLetterQueue" })]);
    expect(item.MoveToDeadLetterQueue).toMatchObject({ Resource: "arn:aws:states:::sqs:sendMessage", Next: "DeleteDeadLettered" });
    expect((item.MoveToDeadLetterQueue!.Arguments as Record<string, unknown>).QueueUrl).toBe(retryArgs.retryDeadLetterQueueUrl);
  });

  it("keeps a received message invisible for every attempt at the forwarder's timeout plus the backoff", () => {
    // 4 attempts × 300 s + 210 s of backoff + 60 s to delete.
    expect(retryVisibilitySeconds(300)).toBe(1470);
    expect((states.ReceiveBatch!.Arguments as Record<string, unknown>).VisibilityTimeout).toBe(1470);
  });

  it("hands the forwarder the message body unchanged in a synthetic SQS record", async () => {
    const body = JSON.stringify({ kind: "retry", target: "me@gmail.com", note: 'ünïcode "quoted"' });
    const message = {
      MessageId: "m-1",
      ReceiptHandle: "rh-1",
      Body: body,
      MD5OfBody: "abc",
      Attributes: { ApproximateReceiveCount: "2", SentTimestamp: "1700000000000" },
    };
    const invoke = ((item.Deliver!.Branches as Array<{ States: States }>)[0]!.States.InvokeForwarder!.Arguments as Record<string, unknown>)
      .Payload;
    const payload = (await template(invoke, { input: message })) as { Records: Array<Record<string, unknown>> };
    expect(payload.Records).toEqual([
      {
        messageId: "m-1",
        receiptHandle: "rh-1",
        body,
        attributes: { ApproximateReceiveCount: "2", SentTimestamp: "1700000000000" },
        messageAttributes: {},
        md5OfBody: "abc",
        eventSource: "aws:sqs",
        eventSourceARN: retryArgs.retryQueueArn,
        awsRegion: "eu-west-2",
      },
    ]);
    expect(retryRecordTemplate(retryArgs.retryQueueArn, "eu-west-2").body).toBe("{% $states.input.Body %}");
  });

  it.each([
    [{ batchItemFailures: [] }, true],
    [{ batchItemFailures: [{ itemIdentifier: "m-1" }] }, false],
    [{}, false],
    [null, false],
  ])("deletes the retry message only for an explicitly empty batchItemFailures: %j → %s", async (response, succeeded) => {
    expect(Boolean(await jsonata(FORWARDER_SUCCEEDED).evaluate({}, { states: { input: response } }))).toBe(succeeded);
  });

  it("drains until a receive comes back empty, at most MAX_BATCHES_PER_EXECUTION batches", async () => {
    const assign = states.ReceiveBatch!.Assign as Record<string, string>;
    expect(await template(assign.messages, { result: {} })).toEqual([]);
    expect(await template(assign.messages, { result: { Messages: [{ MessageId: "a" }] } })).toEqual([{ MessageId: "a" }]);
    const [anyMessages] = states.AnyMessages!.Choices as Array<{ Condition: string }>;
    expect(await template(anyMessages!.Condition, {}, { messages: [] })).toBe(false);
    expect(await template(anyMessages!.Condition, {}, { messages: [{ MessageId: "a" }] })).toBe(true);
    const [more] = states.MoreBatches!.Choices as Array<{ Condition: string; Next: string }>;
    expect(more!.Next).toBe("ReceiveBatch");
    expect(await template(more!.Condition, {}, { batches: MAX_BATCHES_PER_EXECUTION - 1 })).toBe(true);
    expect(await template(more!.Condition, {}, { batches: MAX_BATCHES_PER_EXECUTION })).toBe(false);
  });

  it("records why a message was dead-lettered without changing its body", async () => {
    const input = {
      MessageId: "m-1",
      ReceiptHandle: "rh",
      Body: '{"a":1}',
      failure: { Error: "ForwarderReportedFailure", Cause: "x".repeat(5000) },
    };
    const args = (await template(item.MoveToDeadLetterQueue!.Arguments, { input })) as {
      MessageBody: string;
      MessageAttributes: Record<string, { StringValue: string }>;
    };
    expect(args.MessageBody).toBe('{"a":1}');
    expect(args.MessageAttributes["ses-mail-error"]!.StringValue).toBe("ForwarderReportedFailure");
    expect(args.MessageAttributes["ses-mail-cause"]!.StringValue).toHaveLength(1000);
  });
});

describe("token monitor definition", () => {
  const prefix = tokenMetadataPrefix("test");
  const definition = tokenMonitorDefinition({ metadataPrefix: prefix, namespace: "SESMail/test" });
  const states = statesOf(definition);
  const now = Date.UTC(2026, 10, 28, 12, 0, 0);
  const bindings = (parameters: unknown[]) => ({ parameters, millis: () => now, parse: (text: string) => JSON.parse(text) as unknown });
  const metadata = (account: string, value: string) => ({ Name: `${prefix}${account}`, Value: value, Type: "String" });
  const expiresIn = (seconds: number | null) =>
    JSON.stringify({
      created_at: "2026-11-21T12:00:00Z",
      expires_at: null,
      expires_at_epoch: seconds === null ? null : now / 1000 + seconds,
    });

  it("is valid ASL", () => {
    expect(validate(definition)).toMatchObject({ isValid: true, errors: [] });
  });

  it("publishes the seconds until expiry: the minimum without dimensions, and one per account", async () => {
    const data = await jsonata(tokenMetricDataExpression(prefix)).evaluate(
      {},
      bindings([metadata("me_at_gmail.com", expiresIn(3 * 86400)), metadata("family_at_gmail.com", expiresIn(5 * 3600))]),
    );
    expect(data).toEqual([
      { MetricName: TOKEN_METRIC_NAME, Value: 5 * 3600, Unit: "Seconds" },
      { MetricName: TOKEN_METRIC_NAME, Value: 3 * 86400, Unit: "Seconds", Dimensions: [{ Name: "Account", Value: "me_at_gmail.com" }] },
      { MetricName: TOKEN_METRIC_NAME, Value: 5 * 3600, Unit: "Seconds", Dimensions: [{ Name: "Account", Value: "family_at_gmail.com" }] },
    ]);
  });

  it.each([
    ["no metadata at all", []],
    ["a placeholder", [metadata("me_at_gmail.com", PARAMETER_PLACEHOLDER)]],
    ["a null expiry", [metadata("me_at_gmail.com", expiresIn(null))]],
    ["a value without expires_at_epoch", [metadata("me_at_gmail.com", JSON.stringify({ created_at: "2026-11-21T12:00:00Z" }))]],
  ])("publishes %s as unknown, below the critical threshold", async (_label, parameters) => {
    const data = (await jsonata(tokenMetricDataExpression(prefix)).evaluate({}, bindings(parameters))) as Array<{
      Value: number;
      Dimensions?: unknown;
    }>;
    expect(data[0]).toEqual({ MetricName: TOKEN_METRIC_NAME, Value: UNKNOWN_EXPIRY_SECONDS, Unit: "Seconds" });
    expect(UNKNOWN_EXPIRY_SECONDS).toBeLessThan(TOKEN_CRITICAL_SECONDS);
  });

  it("one unknown account makes the minimum unknown, whatever the others say", async () => {
    const data = (await jsonata(tokenMetricDataExpression(prefix)).evaluate(
      {},
      bindings([metadata("me_at_gmail.com", expiresIn(6 * 86400)), metadata("new_at_gmail.com", PARAMETER_PLACEHOLDER)]),
    )) as Array<{ Value: number }>;
    expect(data[0]!.Value).toBe(UNKNOWN_EXPIRY_SECONDS);
  });

  it("an expired token counts down below zero", async () => {
    const data = (await jsonata(tokenMetricDataExpression(prefix)).evaluate(
      {},
      bindings([metadata("me_at_gmail.com", expiresIn(-7200))]),
    )) as Array<{ Value: number }>;
    expect(data[0]!.Value).toBe(-7200);
  });

  it("reads every page of metadata, then publishes into the stack's namespace", async () => {
    const read = states.ReadTokenMetadata!;
    expect(read.Resource).toBe("arn:aws:states:::aws-sdk:ssm:getParametersByPath");
    expect(await template(read.Arguments, {}, { nextToken: null })).toEqual({
      Path: "/ses-mail/test/gmail/token-metadata",
      Recursive: false,
      WithDecryption: false,
      MaxResults: 10,
    });
    expect(await template(read.Arguments, {}, { nextToken: "page-2" })).toMatchObject({ NextToken: "page-2" });
    const assign = read.Assign as Record<string, string>;
    expect(await template(assign.parameters, { result: { Parameters: [{ Name: "b" }] } }, { parameters: [{ Name: "a" }] })).toEqual([
      { Name: "a" },
      { Name: "b" },
    ]);
    expect(await template(assign.nextToken, { result: { Parameters: [] } })).toBeNull();
    expect(states.PublishCountdown).toMatchObject({
      Resource: "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
      Arguments: { Namespace: "SESMail/test" },
    });
  });
});

/**
 * The members of an API's request shape as the installed AWS SDK declares them (`ReceiveMessageRequest`
 * in @aws-sdk/client-sqs), each with whether it is marked deprecated. Step Functions' SDK integrations
 * take the API's own parameters, so this is the list a Task's Arguments must come from.
 */
function requestMembers(service: string, action: string): Map<string, { deprecated: boolean }> {
  const dir = path.join(__dirname, "..", "..", "node_modules", "@aws-sdk", `client-${service}`, "dist-types", "models");
  const shape = action[0]!.toUpperCase() + action.slice(1);
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".d.ts"))) {
    const source = ts.createSourceFile(file, fs.readFileSync(path.join(dir, file), "utf8"), ts.ScriptTarget.Latest, true);
    for (const statement of source.statements) {
      if (!ts.isInterfaceDeclaration(statement) || ![`${shape}Request`, `${shape}Input`].includes(statement.name.text)) continue;
      return new Map(
        statement.members
          .filter(ts.isPropertySignature)
          .map((member) => [member.name.getText(source), { deprecated: ts.getJSDocDeprecatedTag(member) !== undefined }]),
      );
    }
  }
  throw new Error(`no ${shape}Request in @aws-sdk/client-${service}`);
}

/** Every Task of a definition (nested Map and Parallel states included) that calls an AWS API directly. */
function apiTasks(
  node: unknown,
  found: Array<{ service: string; action: string; args: unknown }> = [],
): Array<{ service: string; action: string; args: unknown }> {
  if (Array.isArray(node)) node.forEach((child) => apiTasks(child, found));
  else if (node && typeof node === "object") {
    const state = node as Record<string, unknown>;
    const match =
      typeof state.Resource === "string" ? /^arn:aws:states:::(?:aws-sdk:)?(sqs|ssm|cloudwatch):([A-Za-z]+)$/.exec(state.Resource) : null;
    if (state.Type === "Task" && match) found.push({ service: match[1]!, action: match[2]!, args: state.Arguments });
    Object.values(state).forEach((child) => apiTasks(child, found));
  }
  return found;
}

describe("AWS API parameters of the state machines", () => {
  it("the retry processor's receive asks only for long-documented parameters, no system attribute names", () => {
    const receive = statesOf(retryProcessorDefinition(retryArgs)).ReceiveBatch!.Arguments as Record<string, unknown>;
    expect(Object.keys(receive).sort()).toEqual([...RETRY_RECEIVE_PARAMETERS].sort());
    const members = requestMembers("sqs", "receiveMessage");
    // Both ways of asking for system attributes exist in the API; neither is used.
    expect(members.get("AttributeNames")).toEqual({ deprecated: true });
    expect([...members.keys()]).toContain("MessageSystemAttributeNames");
  });

  it("every Task calling an AWS API passes only members of that API's request, none deprecated", async () => {
    const tasks = [
      ...apiTasks(retryProcessorDefinition(retryArgs)),
      ...apiTasks(tokenMonitorDefinition({ metadataPrefix: tokenMetadataPrefix("test"), namespace: "SESMail/test" })),
    ];
    expect(tasks.map((task) => `${task.service}:${task.action}`).sort()).toEqual([
      "cloudwatch:putMetricData",
      "sqs:deleteMessage",
      "sqs:deleteMessage",
      "sqs:receiveMessage",
      "sqs:sendMessage",
      "ssm:getParametersByPath",
    ]);
    const problems: string[] = [];
    for (const task of tasks) {
      // JSONata arguments are evaluated to see the keys they produce.
      const args = (await template(
        task.args,
        { input: { ReceiptHandle: "rh", Body: "{}", failure: { Error: "E", Cause: "C" } } },
        { nextToken: "page-2" },
      )) as Record<string, unknown>;
      const members = requestMembers(task.service, task.action);
      for (const key of Object.keys(args)) {
        const member = members.get(key);
        if (!member) problems.push(`${task.service}:${task.action}: ${key} is not a parameter`);
        else if (member.deprecated) problems.push(`${task.service}:${task.action}: ${key} is deprecated`);
      }
    }
    expect(problems).toEqual([]);
  });
});
