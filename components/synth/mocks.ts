/**
 * Pulumi runtime mocks that stand in for AWS: each resource gets the outputs AWS would give it
 * (ARNs, URLs, ids) built deterministically from its inputs, so the synth output is stable across runs
 * and a diff shows only real changes. Shared by `ses-mail synth` and the mock tests.
 */
import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import type { AwsContext } from "../arns";

/** The account the offline synth pretends to deploy into (AWS's documentation account id). */
export const MOCK_ACCOUNT_ID = "123456789012";

/** A deterministic hex string for a resource (stands in for generated ids). */
function hash(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** A deterministic UUID-shaped id. */
function uuid(text: string): string {
  const h = hash(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

type Inputs = Record<string, unknown>;

function str(inputs: Inputs, key: string): string | undefined {
  const value = inputs[key];
  return typeof value === "string" ? value : undefined;
}

/** The outputs AWS would return for a resource, given its inputs. Unknown types get only an id. */
export function mockResourceState(type: string, logicalName: string, inputs: Inputs, ctx: AwsContext): { id: string; state: Inputs } {
  const { partition: p, region: r, accountId: a } = ctx;
  const name = str(inputs, "name") ?? logicalName;
  const arn = (service: string, resource: string, regional = true) => `arn:${p}:${service}:${regional ? r : ""}:${a}:${resource}`;
  const result = (id: string, extra: Inputs = {}) => ({ id, state: { ...inputs, ...extra } });

  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = str(inputs, "bucket") ?? logicalName;
      return result(bucket, {
        bucket,
        arn: `arn:${p}:s3:::${bucket}`,
        bucketDomainName: `${bucket}.s3.amazonaws.com`,
        bucketRegionalDomainName: `${bucket}.s3.${r}.amazonaws.com`,
      });
    }
    case "aws:sqs/queue:Queue": {
      const url = `https://sqs.${r}.amazonaws.com/${a}/${name}`;
      return result(url, { name, arn: arn("sqs", name), url });
    }
    case "aws:sns/topic:Topic":
      return result(arn("sns", name), { name, arn: arn("sns", name) });
    case "aws:sns/topicSubscription:TopicSubscription":
      return result(`${str(inputs, "topic")}:${uuid(logicalName)}`, { arn: `${str(inputs, "topic")}:${uuid(logicalName)}` });
    case "aws:dynamodb/table:Table": {
      const tableArn = arn("dynamodb", `table/${name}`);
      return result(name, {
        name,
        arn: tableArn,
        streamArn: `${tableArn}/stream/2026-01-01T00:00:00.000`,
        streamLabel: "2026-01-01T00:00:00.000",
      });
    }
    case "aws:lambda/function:Function": {
      const fnArn = arn("lambda", `function:${name}`);
      return result(name, {
        name,
        arn: fnArn,
        qualifiedArn: `${fnArn}:$LATEST`,
        invokeArn: `arn:${p}:apigateway:${r}:lambda:path/2015-03-31/functions/${fnArn}/invocations`,
        version: "$LATEST",
      });
    }
    case "aws:lambda/eventSourceMapping:EventSourceMapping":
      return result(uuid(logicalName), { uuid: uuid(logicalName), arn: arn("lambda", `event-source-mapping:${uuid(logicalName)}`) });
    case "aws:iam/role:Role":
      return result(name, { name, arn: `arn:${p}:iam::${a}:role/${name}`, uniqueId: `AROA${hash(name, 17).toUpperCase()}` });
    case "aws:iam/policy:Policy":
      return result(`arn:${p}:iam::${a}:policy/${name}`, {
        name,
        arn: `arn:${p}:iam::${a}:policy/${name}`,
        policyId: `ANPA${hash(name, 17).toUpperCase()}`,
      });
    case "aws:cloudfront/distribution:Distribution": {
      const id = `E${hash(logicalName, 13).toUpperCase()}`;
      return result(id, {
        arn: `arn:${p}:cloudfront::${a}:distribution/${id}`,
        domainName: `d${hash(logicalName, 13)}.cloudfront.net`,
        hostedZoneId: "Z2FDTNDATAQYW2",
      });
    }
    case "aws:cloudfront/originAccessControl:OriginAccessControl":
      return result(`E${hash(logicalName, 13).toUpperCase()}`);
    case "aws:xray/samplingRule:SamplingRule": {
      const rule = str(inputs, "ruleName") ?? logicalName;
      return result(rule, { arn: arn("xray", `sampling-rule/${rule}`) });
    }
    case "aws:iam/rolePolicy:RolePolicy":
      return result(`${str(inputs, "role")}:${name}`, { name });
    case "aws:cloudwatch/logGroup:LogGroup":
      return result(name, { name, arn: arn("logs", `log-group:${name}`) });
    case "aws:cloudwatch/eventBus:EventBus":
      return result(name, { name, arn: arn("events", `event-bus/${name}`) });
    case "aws:cloudwatch/eventRule:EventRule": {
      const bus = str(inputs, "eventBusName");
      return result(`${bus ?? "default"}|${name}`, {
        name,
        arn: arn("events", bus && bus !== "default" ? `rule/${bus}/${name}` : `rule/${name}`),
      });
    }
    case "aws:cloudwatch/metricAlarm:MetricAlarm":
      return result(name, { name, arn: arn("cloudwatch", `alarm:${name}`) });
    case "aws:cloudwatch/dashboard:Dashboard": {
      const dashboard = str(inputs, "dashboardName") ?? logicalName;
      return result(dashboard, { dashboardArn: `arn:${p}:cloudwatch::${a}:dashboard/${dashboard}` });
    }
    case "aws:sfn/stateMachine:StateMachine": {
      const smArn = arn("states", `stateMachine:${name}`);
      return result(smArn, { name, arn: smArn });
    }
    case "aws:scheduler/schedule:Schedule":
      return result(`default/${name}`, { name, arn: arn("scheduler", `schedule/default/${name}`) });
    case "aws:pipes/pipe:Pipe":
      return result(name, { name, arn: arn("pipes", `pipe/${name}`) });
    case "aws:kms/key:Key": {
      const keyId = uuid(logicalName);
      return result(keyId, { keyId, arn: arn("kms", `key/${keyId}`) });
    }
    case "aws:kms/alias:Alias":
      return result(name, { name, arn: arn("kms", name) });
    case "aws:ssm/parameter:Parameter":
      return result(name, { name, arn: arn("ssm", `parameter${name}`) });
    case "aws:sesv2/emailIdentity:EmailIdentity": {
      const domain = str(inputs, "emailIdentity") ?? logicalName;
      return result(domain, {
        arn: arn("ses", `identity/${domain}`),
        identityType: "DOMAIN",
        dkimSigningAttributes: {
          tokens: [0, 1, 2].map((i) => hash(`${domain}:${i}`, 32)),
          status: "PENDING",
          signingAttributesOrigin: "AWS_SES",
        },
      });
    }
    case "aws:ses/receiptRuleSet:ReceiptRuleSet": {
      const set = str(inputs, "ruleSetName") ?? logicalName;
      return result(set, { arn: arn("ses", `receipt-rule-set/${set}`) });
    }
    case "aws:ses/receiptRule:ReceiptRule":
      return result(name, { arn: arn("ses", `receipt-rule-set/${str(inputs, "ruleSetName")}:receipt-rule/${name}`) });
    case "aws:servicecatalog/appregistryApplication:AppregistryApplication": {
      const appArn = arn("servicecatalog", `/applications/${hash(name, 26)}`);
      return result(hash(name, 26), { name, arn: appArn, applicationTag: { awsApplication: appArn } });
    }
    case "aws:resourcegroups/group:Group":
      return result(name, { name, arn: arn("resource-groups", `group/${name}`) });
    default:
      return result(`${logicalName}-id`);
  }
}

/** What the mocked account already holds, as far as the program asks about it. */
export interface MockWorld {
  /** The receipt rule set active in the region; undefined when none is. */
  readonly activeRuleSet?: string;
}

/**
 * An invoke failure as the engine reports it: Pulumi's SDK rethrows the gRPC error's `details`, so a
 * plain Error thrown by a mock would arrive with an empty message.
 */
export function invokeFailure(token: string, message: string): Error {
  const text = `invocation of ${token} returned an error: ${message}`;
  return Object.assign(new Error(text), { details: text });
}

/**
 * The invokes the program makes: who and where we are, and what is active. Any other invoke is an
 * error, not a silent `{}`.
 */
export function mockCall(token: string, ctx: AwsContext, world: MockWorld = {}): Record<string, unknown> {
  switch (token) {
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return {
        accountId: ctx.accountId,
        arn: `arn:${ctx.partition}:iam::${ctx.accountId}:user/synth`,
        userId: "AIDASYNTH",
        id: ctx.accountId,
      };
    case "aws:index/getRegion:getRegion":
      return { name: ctx.region, region: ctx.region, endpoint: `ec2.${ctx.region}.amazonaws.com`, description: ctx.region, id: ctx.region };
    case "aws:index/getPartition:getPartition":
      return { partition: ctx.partition, dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws", id: ctx.partition };
    case "aws:ses/getActiveReceiptRuleSet:getActiveReceiptRuleSet": {
      // The provider's data source fails when nothing is active (SES answers without metadata).
      if (!world.activeRuleSet) throw invokeFailure(token, "reading SES Active Receipt Rule Set: empty result");
      const name = world.activeRuleSet;
      return {
        ruleSetName: name,
        arn: `arn:${ctx.partition}:ses:${ctx.region}:${ctx.accountId}:receipt-rule-set/${name}`,
        id: name,
        region: ctx.region,
      };
    }
    default:
      throw new Error(`the offline synth has no mock for the invoke ${token}`);
  }
}

/** Mocks for `pulumi.runtime.setMocks`. `onResource` sees every resource's deserialized inputs (Lambda code archives included). */
export function awsMocks(
  ctx: AwsContext,
  onResource?: (args: pulumi.runtime.MockResourceArgs) => void,
  world: MockWorld = {},
): pulumi.runtime.Mocks {
  return {
    newResource(args) {
      onResource?.(args);
      return mockResourceState(args.type, args.name, args.inputs as Inputs, ctx);
    },
    call(args) {
      return mockCall(args.token, ctx, world);
    },
  };
}
