/**
 * The deployed stack keeps to the retention model (core/retention.ts): every queue keeps a message no
 * longer than the model assumes, the bus retries no longer, the retry processor runs as often, and the
 * bucket keeps raw messages at least as long as the longest reference. Both shipped stacks' settings are
 * valid, and a value that breaks the model is refused naming the key.
 *
 * The same synthesis holds the prod stack to its committed resource identities (tests/helpers/identities.ts):
 * this is the one test file that synthesizes prod exactly as shipped.
 */
import { loadStackConfig } from "../../config/load";
import { ConfigError, parseStackConfig } from "../../config/schema";
import { GMAIL_FORWARDER_TIMEOUT_SECONDS } from "../../components/gmail-forwarder";
import { RETRY_PROCESSOR_SCHEDULE } from "../../components/retry-processor";
import { retryVisibilitySeconds } from "../../components/workflows";
import {
  DAY_SECONDS,
  DEAD_LETTER_RETENTION_SECONDS,
  EVENT_MAX_AGE_SECONDS,
  longestReferencePath,
  MIN_EMAIL_RETENTION_DAYS,
  RETRY_RUN_INTERVAL_SECONDS,
  RETRY_RUN_MAX_SECONDS,
  WORKING_QUEUE_RETENTION_SECONDS,
} from "../../core/retention";
import { expectIdentitiesKept } from "../helpers/identities";
import { ofType, synthStack, T, type SynthRun } from "../helpers/synth";

let run: SynthRun;

beforeAll(async () => {
  run = await synthStack("prod");
}, 120_000);

describe("the prod stack as deployed keeps to the retention model", () => {
  it("dead-letter and retry queues keep messages at most DEAD_LETTER_RETENTION_SECONDS, working queues at most WORKING_QUEUE_RETENTION_SECONDS", () => {
    const queues = ofType(run.result, T.queue).map((queue) => ({
      name: String(queue.inputs.name),
      retention: Number(queue.inputs.messageRetentionSeconds),
    }));
    expect(queues.length).toBeGreaterThanOrEqual(10);
    for (const queue of queues) {
      const longLived = /-dlq-|-retry-/.test(queue.name);
      expect({ queue: queue.name, retention: queue.retention }).toEqual({
        queue: queue.name,
        retention: longLived ? DEAD_LETTER_RETENTION_SECONDS : WORKING_QUEUE_RETENTION_SECONDS,
      });
    }
  });

  it("the bus gives up on a handler queue within EVENT_MAX_AGE_SECONDS", () => {
    const targets = ofType(run.result, T.target).filter((target) => target.inputs.retryPolicy !== undefined);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      expect((target.inputs.retryPolicy as { maximumEventAgeInSeconds: number }).maximumEventAgeInSeconds).toBeLessThanOrEqual(
        EVENT_MAX_AGE_SECONDS,
      );
    }
  });

  it("the retry processor runs every RETRY_RUN_INTERVAL_SECONDS and one run fits RETRY_RUN_MAX_SECONDS", () => {
    expect(RETRY_RUN_INTERVAL_SECONDS).toBe(3600);
    const schedule = ofType(run.result, T.schedule).find((entry) => String(entry.inputs.name).includes("retry-processor"))!;
    expect(schedule.inputs.scheduleExpression).toBe(RETRY_PROCESSOR_SCHEDULE);
    expect(RETRY_PROCESSOR_SCHEDULE).toBe("rate(1 hour)");
    expect(retryVisibilitySeconds(GMAIL_FORWARDER_TIMEOUT_SECONDS)).toBeLessThanOrEqual(RETRY_RUN_MAX_SECONDS);
  });

  it("the bucket keeps a raw message nobody deleted longer than any reference to it", () => {
    const lifecycle = ofType(run.result, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0]!;
    const rule = (lifecycle.inputs.rules as Array<{ id: string; expiration?: { days: number } }>).find(
      (entry) => entry.id === "expire-raw-messages",
    )!;
    expect(rule.expiration!.days * DAY_SECONDS).toBeGreaterThanOrEqual(longestReferencePath().seconds);
  });
});

describe("the prod stack's resource identities", () => {
  it("keeps the identity (URN) of every resource committed in tests/components/identities/prod.txt", () => {
    expectIdentitiesKept("prod", run.result.resources);
  });
});

describe("stack config keeps to the retention model", () => {
  it.each(["test", "prod"])("the %s stack's emailRetentionDays covers the longest reference", (stack) => {
    expect(loadStackConfig(stack).emailRetentionDays).toBeGreaterThanOrEqual(MIN_EMAIL_RETENTION_DAYS);
  });

  it("refuses a shorter retention, naming the key and the reference it would break", () => {
    let caught: unknown;
    try {
      parseStackConfig({ domains: ["example.com"], emailRetentionDays: 7 }, "prod");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).key).toBe("emailRetentionDays");
    expect((caught as ConfigError).message).toMatch(
      new RegExp(
        `^ses-mail:emailRetentionDays: must be at least ${MIN_EMAIL_RETENTION_DAYS}: a raw message must outlive every reference to it, and the longest is parked in the retry queue`,
      ),
    );
  });
});
