/**
 * The `test` stack configured for an account it shares with prod, and with non-default settings: it
 * joins prod's active receipt rule set instead of creating one (prod's set is what the mocked region
 * has active), and every config key reaches the resource it configures.
 */
import { named, ofType, synthStack, T, type SynthRun } from "../helpers/synth";

const A = "123456789012";
const R = "eu-west-2";
let run: SynthRun;

beforeAll(async () => {
  run = await synthStack("test", {
    "ses-mail:joinExistingRuleSet": "ses-ruleset-prod",
    "ses-mail:alarmEmail": undefined,
    "ses-mail:defaultAction": "drop",
    "ses-mail:emailRetentionDays": "45",
    "ses-mail:logRetentionDays": "90",
    "ses-mail:verdictPolicy": JSON.stringify({ spam: "drop" }),
    "ses-mail:routes": "[]",
    "ses-mail:tlsPolicy": "Optional",
    "ses-mail:logExecutionData": "true",
    "ses-mail:deletionProtection": "true",
  });
}, 120_000);

it("adds its rule to the existing active rule set and creates no rule set of its own", () => {
  expect(ofType(run.result, T.receiptRuleSet)).toEqual([]);
  expect(ofType(run.result, T.activeRuleSet)).toEqual([]);
  expect(named(run.result, T.receiptRule, "ses-mail-inbound-test").inputs.ruleSetName).toBe("ses-ruleset-prod");
  expect(run.result.outputs.receiptRuleSetName).toBe("ses-ruleset-prod");
  // Its own rule goes with it on destroy; prod's set and its activation are not this stack's to touch.
  expect(named(run.result, T.receiptRule, "ses-mail-inbound-test").options).toBeUndefined();
});

it("lets SES write and publish only as its own rule in that set", () => {
  const rule = `arn:aws:ses:${R}:${A}:receipt-rule-set/ses-ruleset-prod:receipt-rule/ses-mail-inbound-test`;
  const bucketPolicy = JSON.parse(String(ofType(run.result, T.bucketPolicy)[0]!.inputs.policy)) as {
    Statement: Array<{ Condition?: { ArnLike?: Record<string, string> } }>;
  };
  expect(bucketPolicy.Statement[0]!.Condition!.ArnLike).toEqual({ "aws:SourceArn": rule });
  const topicPolicy = JSON.parse(String(ofType(run.result, "aws:sns/topicPolicy:TopicPolicy")[0]!.inputs.policy)) as {
    Statement: Array<{ Condition: { ArnLike: Record<string, string> } }>;
  };
  expect(topicPolicy.Statement[0]!.Condition.ArnLike).toEqual({ "aws:SourceArn": rule });
});

it("every setting reaches its resource", () => {
  const router = named(run.result, T.function, "ses-mail-router-enrichment-test");
  const variables = (router.inputs.environment as { variables: Record<string, string> }).variables;
  expect(variables.DEFAULT_ACTION).toBe("drop");
  expect(JSON.parse(variables.VERDICT_POLICY!)).toMatchObject({ spam: "drop", virus: "drop" });
  const lifecycle = ofType(run.result, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0]!;
  expect(lifecycle.inputs.rules).toContainEqual(expect.objectContaining({ expiration: { days: 45 } }));
  for (const group of ofType(run.result, T.logGroup)) expect(group.inputs.retentionInDays).toBe(90);
  expect(ofType(run.result, T.tableItem)).toEqual([]);
  // Without declared Gmail targets only the OAuth client placeholder exists; the CLI writes the tokens.
  expect(ofType(run.result, T.parameter).map((p) => p.inputs.name)).toEqual(["/ses-mail/test/gmail/oauth-client"]);
});

it("the TLS policy, message data in logs and deletion protection follow the config", () => {
  expect(named(run.result, T.receiptRule, "ses-mail-inbound-test").inputs.tlsPolicy).toBe("Optional");
  expect(
    (named(run.result, T.pipe, "ses-email-router-test").inputs.logConfiguration as Record<string, unknown>).includeExecutionDatas,
  ).toEqual(["ALL"]);
  for (const machine of ofType(run.result, T.stateMachine))
    expect(machine.inputs.loggingConfiguration).toMatchObject({ includeExecutionData: true });
  expect(named(run.result, T.table, "ses-mail-email-routing-test").inputs.deletionProtectionEnabled).toBe(true);
  expect(named(run.result, T.bucket, "ses-mail-storage-123456789012-test").options).toEqual({ protect: true });
  expect(ofType(run.result, T.kmsKey)[0]!.options).toEqual({ protect: true });
});

it("without alarmEmail the alarm topic has no subscription", () => {
  const topic = String(named(run.result, T.topic, "ses-mail-alarms-test").outputs.arn);
  expect(ofType(run.result, T.subscription).filter((s) => s.inputs.topic === topic)).toEqual([]);
});
