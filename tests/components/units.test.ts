/**
 * The pure parts of the components, without Pulumi: names and their AWS limits, archive exclusions,
 * queue settings, lifecycle rules, declared-route items, alarms and the dashboard, DNS records.
 */
import fc from "fast-check";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { domainDnsRecords, receiptRuleS3Action } from "../../components/inbound";
import { archiveExclusions } from "../../components/lambda-function";
import {
  alarmSpecs,
  dashboardBody,
  TOKEN_CRITICAL_SECONDS,
  TOKEN_WARNING_SECONDS,
  type MonitoringTargets,
} from "../../components/monitoring";
import { checkedName, NAME_LIMITS, ResourceNameError, stackNames, type NameKind } from "../../components/naming";
import { redrivePolicy, visibilityForFunction } from "../../components/queue";
import { declaredRouteItem, routeResourceSuffix } from "../../components/routing-table";
import { MANAGED_BY_ATTRIBUTE } from "../../core/table";
import { storageLifecycleRules } from "../../components/storage";
import { MIN_EMAIL_RETENTION_DAYS } from "../../core/retention";
import { defaultTags } from "../../components/tags";
import { declaredGmailAccounts } from "../../components/gmail-forwarder";
import { createRuleCodec } from "../../core/rules";

describe("names", () => {
  it("follow the seed's scheme", () => {
    const names = stackNames("test");
    expect(names.bucket("123456789012")).toBe("ses-mail-storage-123456789012-test");
    expect(names.topic).toBe("ses-email-processing-test");
    expect(names.inputQueue).toBe("ses-email-input-test");
    expect(names.table).toBe("ses-mail-email-routing-test");
    expect(names.bus).toBe("ses-mail-email-routing-test");
    expect(names.function("router")).toBe("ses-mail-router-enrichment-test");
    expect(names.function("gmail-forwarder")).toBe("ses-mail-gmail-forwarder-test");
    expect(names.pipe).toBe("ses-email-router-test");
    expect(names.gmailRule).toBe("route-to-gmail-test");
    expect(names.bouncerRule).toBe("route-to-bouncer-test");
    expect(names.retryQueue).toBe("ses-mail-gmail-forwarder-retry-test");
    expect(names.retryProcessor).toBe("ses-mail-gmail-forwarder-retry-processor-test");
    expect(names.tokenMonitor).toBe("ses-mail-gmail-token-monitor-test");
    expect(names.credentialKeyAlias).toBe("alias/ses-mail-smtp-credentials-test");
    expect(names.alarm("gmail-token-expiring-critical")).toBe("ses-mail-gmail-token-expiring-critical-test");
    expect(names.dashboard).toBe("ses-mail-dashboard-test");
  });

  it("fit AWS's limits for every stack name the config accepts (up to 31 characters)", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,30}$/), (env) => {
        const names = stackNames(env);
        for (const role of [
          "router",
          "pipe",
          "gmail-forwarder",
          "bouncer",
          "credential-manager",
          "retry-processor",
          "retry-schedule",
          "token-monitor",
          "token-schedule",
        ]) {
          names.role(role);
        }
        names.bucket("123456789012");
        for (const key of ["router", "gmail-forwarder", "bouncer", "credential-manager"] as const) names.function(key);
      }),
    );
  });

  it("a name over its limit fails naming the kind and the limit", () => {
    expect(() => checkedName("iamRole", "x".repeat(65))).toThrow(ResourceNameError);
    expect(() => checkedName("iamRole", "x".repeat(65))).toThrow(/iamRole name .* is 65 characters; AWS allows at most 64/);
    for (const kind of Object.keys(NAME_LIMITS) as NameKind[]) expect(checkedName(kind, "ok")).toBe("ok");
  });

  it("default tags name the project, the tool, the environment and the application", () => {
    expect(defaultTags("prod")).toEqual({ Project: "ses-mail", ManagedBy: "pulumi", Environment: "prod", Application: "ses-mail-prod" });
  });
});

describe("archive exclusions", () => {
  const deps = [
    "@aws-lambda-powertools/logger",
    "@aws-sdk/client-dynamodb",
    "@aws-sdk/util-dynamodb",
    "@pulumi/aws",
    "dynalite",
    "yaml",
    "zod",
  ];

  it("exclude every dependency the function does not list, including runtime-provided SDK clients", () => {
    expect(archiveExclusions(deps, ["zod", "@aws-lambda-powertools/logger"], "fn")).toEqual([
      "@aws-sdk/client-dynamodb",
      "@aws-sdk/util-dynamodb",
      "dynalite",
      "yaml",
    ]);
  });

  it("refuse a package that would never be bundled, or one the runtime provides", () => {
    expect(() => archiveExclusions(deps, ["left-pad"], "fn")).toThrow(/fn: needs left-pad, which is not in package.json "dependencies"/);
    expect(() => archiveExclusions(deps, ["@aws-sdk/client-dynamodb"], "fn")).toThrow(/provided by the Lambda runtime/);
  });
});

describe("queues and storage", () => {
  it("redrive policy and visibility for a Lambda consumer", () => {
    expect(JSON.parse(redrivePolicy("arn:dlq", 3))).toEqual({ deadLetterTargetArn: "arn:dlq", maxReceiveCount: 3 });
    expect(() => redrivePolicy("arn:dlq", 0)).toThrow(/maxReceiveCount/);
    expect(visibilityForFunction(300)).toBe(1800);
    expect(visibilityForFunction(60)).toBe(360);
  });

  it("lifecycle expires raw messages after the configured days and never keeps failed uploads", () => {
    expect(storageLifecycleRules("emails/", 40)).toEqual([
      { id: "expire-raw-messages", status: "Enabled", filter: { prefix: "emails/" }, expiration: { days: 40 } },
      {
        id: "abort-incomplete-uploads",
        status: "Enabled",
        filter: { prefix: "" },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      },
    ]);
  });

  it("refuses a lifecycle shorter than the longest reference to a raw message", () => {
    expect(() => storageLifecycleRules("emails/", MIN_EMAIL_RETENTION_DAYS - 1)).toThrow(
      new RegExp(`≥ ${MIN_EMAIL_RETENTION_DAYS} \\(parked in the retry queue`),
    );
    expect(() => storageLifecycleRules("emails/", 0)).toThrow(/retention/);
    expect(storageLifecycleRules("emails/", MIN_EMAIL_RETENTION_DAYS)[0]).toMatchObject({ expiration: { days: MIN_EMAIL_RETENTION_DAYS } });
  });
});

describe("inbound", () => {
  it("the S3 action carries the topic (no separate SNS action, so no 150 KB limit)", () => {
    expect(receiptRuleS3Action("bucket", "emails/", "arn:topic")).toEqual({
      position: 1,
      bucketName: "bucket",
      objectKeyPrefix: "emails/",
      topicArn: "arn:topic",
    });
  });

  it("DNS records: MX to the region's inbound endpoint and three DKIM CNAMEs", () => {
    expect(domainDnsRecords("example.com", "eu-west-2", ["t1", "t2", "t3"])).toEqual([
      { name: "example.com", type: "MX", value: "10 inbound-smtp.eu-west-2.amazonaws.com" },
      { name: "t1._domainkey.example.com", type: "CNAME", value: "t1.dkim.amazonses.com" },
      { name: "t2._domainkey.example.com", type: "CNAME", value: "t2.dkim.amazonses.com" },
      { name: "t3._domainkey.example.com", type: "CNAME", value: "t3.dkim.amazonses.com" },
    ]);
  });
});

describe("declared routes", () => {
  const route = {
    recipient: "receipts@test.example.com",
    enabled: true,
    description: "Receipts",
    actions: [{ type: "forward-to-gmail" as const, target: "me@gmail.com", labels: ["Label_1"] }, { type: "store" as const }],
  };

  it("become the item the CLI writes, marked managed_by pulumi, which the router reads back", () => {
    const item = unmarshall(JSON.parse(declaredRouteItem(route)));
    expect(item).toEqual({
      PK: "ROUTE#receipts@test.example.com",
      SK: "RULE#v1",
      entity_type: "ROUTE",
      recipient: "receipts@test.example.com",
      enabled: true,
      description: "Receipts",
      actions: [{ type: "forward-to-gmail", target: "me@gmail.com", labels: ["Label_1"] }, { type: "store" }],
      managed_by: "pulumi",
    });
    expect(createRuleCodec().fromItem(item)).toMatchObject({ pattern: "receipts@test.example.com", enabled: true, actions: route.actions });
  });

  it("the marker is the attribute the CLI shows", () => {
    expect(unmarshall(JSON.parse(declaredRouteItem(route)))[MANAGED_BY_ATTRIBUTE]).toBe("pulumi");
  });

  it("logical names are stable and readable", () => {
    expect(routeResourceSuffix("*")).toBe("any");
    expect(routeResourceSuffix("*@example.com")).toBe("any-at-example.com");
    expect(routeResourceSuffix("a+b@example.com")).toBe("a+b-at-example.com");
  });

  it("their Gmail targets, once each", () => {
    expect(
      declaredGmailAccounts([
        route,
        { ...route, recipient: "*", actions: [{ type: "forward-to-gmail", target: "family@gmail.com" }] },
        { ...route, actions: [{ type: "bounce" }] },
      ]),
    ).toEqual(["family@gmail.com", "me@gmail.com"]);
  });
});

describe("alarms and dashboard", () => {
  const targets: MonitoringTargets = {
    env: "test",
    region: "eu-west-2",
    namespace: "SESMail/test",
    functions: [{ key: "router", functionName: "ses-mail-router-enrichment-test" }],
    queues: [
      { key: "input", queueName: "ses-email-input-test", maxAgeSeconds: 300 },
      { key: "gmail-forwarder", queueName: "ses-gmail-forwarder-test" },
    ],
    deadLetterQueues: [
      { key: "input", queueName: "ses-email-input-dlq-test" },
      { key: "gmail-forwarder-retry", queueName: "ses-mail-gmail-forwarder-retry-dlq-test" },
    ],
    stateMachines: [{ key: "token-monitor", arn: "arn:sm" }],
    pipeName: "ses-email-router-test",
    tokenMonitor: true,
    handlerMetrics: { "credential-manager": ["CredentialsCreated"] },
  };

  it("token alarms: warning 24 h, critical 6 h, on the minimum, breaching when the monitor is silent", () => {
    const specs = alarmSpecs(targets);
    expect(specs.filter((spec) => spec.metricName === "TokenSecondsUntilExpiration")).toEqual([
      expect.objectContaining({
        name: "ses-mail-gmail-token-expiring-warning-test",
        threshold: TOKEN_WARNING_SECONDS,
        statistic: "Minimum",
        comparison: "LessThanThreshold",
        treatMissingData: "breaching",
        dimensions: {},
      }),
      expect.objectContaining({
        name: "ses-mail-gmail-token-expiring-critical-test",
        threshold: TOKEN_CRITICAL_SECONDS,
        statistic: "Minimum",
        comparison: "LessThanThreshold",
        treatMissingData: "breaching",
      }),
    ]);
    expect(TOKEN_WARNING_SECONDS).toBe(86400);
    expect(TOKEN_CRITICAL_SECONDS).toBe(21600);
  });

  it("every DLQ non-empty, every function's errors, queue age where set, failed executions, pipe failures", () => {
    const names = alarmSpecs(targets).map((spec) => spec.name);
    expect(names).toEqual([
      "ses-mail-gmail-token-expiring-warning-test",
      "ses-mail-gmail-token-expiring-critical-test",
      "ses-mail-input-dlq-messages-test",
      "ses-mail-gmail-forwarder-retry-dlq-messages-test",
      "ses-mail-router-errors-test",
      "ses-mail-input-queue-age-test",
      "ses-mail-token-monitor-failed-test",
      "ses-mail-pipe-failures-test",
    ]);
    const dlq = alarmSpecs(targets).find((spec) => spec.key === "input-dlq")!;
    expect(dlq).toMatchObject({
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: "ses-email-input-dlq-test" },
      threshold: 0,
      comparison: "GreaterThanThreshold",
    });
  });

  it("with a Gmail forwarder, two parked-delivery alarms: any park within the hour, and any delivery parked over a day", () => {
    const specs = alarmSpecs({ ...targets, parkedDeliveries: true }).filter((spec) => spec.metricName === "GmailParkedAgeSeconds");
    expect(specs.map((spec) => [spec.name, spec.statistic, spec.threshold])).toEqual([
      ["ses-mail-gmail-delivery-parked-test", "SampleCount", 0],
      ["ses-mail-gmail-delivery-parked-over-a-day-test", "Maximum", 86400],
    ]);
    for (const spec of specs)
      expect(spec).toMatchObject({ namespace: "SESMail/test", dimensions: { service: "gmail-forwarder" }, datapointsToAlarm: 1 });
    // The alarm holds between two hourly retry runs, so a delivery still parked does not make it flap.
    expect(specs[0]!.periodSeconds * specs[0]!.evaluationPeriods).toBeGreaterThan(3600);
    expect(alarmSpecs(targets).filter((spec) => spec.metricName === "GmailParkedAgeSeconds")).toEqual([]);
  });

  it("duplicate alarm names are refused", () => {
    expect(() => alarmSpecs({ ...targets, deadLetterQueues: [targets.deadLetterQueues[0]!, targets.deadLetterQueues[0]!] })).toThrow(
      /defined twice/,
    );
  });

  it("the dashboard shows mail, functions, queues, DLQs, the token countdown and handler operations", () => {
    const body = dashboardBody(targets) as { widgets: Array<{ properties: { title: string; metrics: unknown[][] } }> };
    expect(body.widgets.map((widget) => widget.properties.title)).toEqual([
      "Mail: accepted, forwarded, bounced, dropped",
      "Lambda errors",
      "Lambda duration (p99)",
      "Queue depth",
      "Age of oldest message (s)",
      "Dead-letter queue depth",
      "Gmail token: seconds until expiry (min over accounts)",
      "credential-manager operations",
    ]);
    expect(body.widgets[0]!.properties.metrics.map((row) => row[1])).toEqual([
      "MessagesRouted",
      "Forwarded",
      "Bounced",
      "Dropped",
      "Stored",
      "Quarantined",
      "PolicyDropped",
      "SetupNotificationAcknowledged",
    ]);
    expect(body.widgets[0]!.properties.metrics[0]).toEqual([
      "SESMail/test",
      "MessagesRouted",
      "service",
      "router",
      { stat: "Sum", label: "accepted" },
    ]);
  });
});
