/**
 * The retention model: every path a reference to a raw message can take ends before the raw message
 * does, and the records that guard deliveries live at least as long as any reference.
 */
import {
  DAY_SECONDS,
  DEAD_LETTER_RETENTION_SECONDS,
  DELIVERY_RECORD_TTL_SECONDS,
  describeLongestReference,
  longestReferencePath,
  MESSAGE_RECORD_TTL_SECONDS,
  MIN_EMAIL_RETENTION_DAYS,
  pathSeconds,
  rawMessageReferencePaths,
  RETRY_MAX_PARKED_SECONDS,
} from "../../core/retention";

describe("retention model", () => {
  it("the raw message's minimum retention covers every reference path, in whole days", () => {
    for (const path of rawMessageReferencePaths()) expect(pathSeconds(path)).toBeLessThanOrEqual(MIN_EMAIL_RETENTION_DAYS * DAY_SECONDS);
    expect((MIN_EMAIL_RETENTION_DAYS - 1) * DAY_SECONDS).toBeLessThan(longestReferencePath().seconds);
  });

  it("the longest reference is a parked delivery that ends in the retry dead-letter queue", () => {
    const { path, seconds } = longestReferencePath();
    expect(path.name).toMatch(/parked/);
    // Parking window and the retry DLQ alone are four weeks; the raw message must outlive both.
    expect(seconds).toBeGreaterThan(RETRY_MAX_PARKED_SECONDS + DEAD_LETTER_RETENTION_SECONDS);
    expect(describeLongestReference()).toMatch(
      /^parked in the retry queue, then the retry dead-letter queue: .*parked, waiting for re-authorization 14 d .* = 37\.09 d$/,
    );
    expect(MIN_EMAIL_RETENTION_DAYS).toBe(38);
  });

  it("an import record outlives every reference, so no redelivery imports twice", () => {
    expect(DELIVERY_RECORD_TTL_SECONDS).toBeGreaterThan(longestReferencePath().seconds);
  });

  it("a message's record (progress and fate) outlives every reference, so trace can say what happened to it", () => {
    expect(MESSAGE_RECORD_TTL_SECONDS).toBeGreaterThan(longestReferencePath().seconds);
  });
});
