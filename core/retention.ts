/**
 * The retention model: how long anything may still refer to a raw message, and therefore how long the
 * raw message must be kept. Pure numbers, one source for the infrastructure (queue retentions, the
 * retry schedule), the config validation (`emailRetentionDays`) and the handlers' record lifetimes.
 *
 * A raw message (the S3 object SES wrote) is referred to by whatever still carries its pointer: a
 * notification in the input queue, a decision on the bus or in a handler queue, a parked delivery in
 * the retry queue, or any of those in a dead-letter queue. Processed messages are deleted by the last
 * consumer (core/delivery.ts); every other one stays until the bucket's lifecycle rule expires it after
 * `emailRetentionDays`. The invariant: no automatic reference outlives the raw message, so a replay,
 * a redrive or a re-authorized mailbox always finds the bytes. Each path below is the longest a
 * reference can live along it, counted from the moment SES stored the message (the S3 object's
 * creation, which is what the lifecycle rule counts from). The lifecycle rule must be at least the
 * longest path: config/schema.ts refuses less.
 *
 * An operator's redrive (`ses-mail dlq redrive`) sends a message anew and starts its clock again; a
 * redrive after the raw message expired fails with "the raw message is gone" and stays visible.
 */

export const HOUR_SECONDS = 60 * 60;
export const DAY_SECONDS = 24 * HOUR_SECONDS;

/** SQS's maximum retention. Dead-letter queues keep what failed as long as SQS allows. */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * DAY_SECONDS;

/**
 * The working queues a stage consumes at once (input, forwarder, bouncer): the seed's 4 days. A message
 * waits there only while its consumer is stopped, which the queue-age alarms report within the hour.
 */
export const WORKING_QUEUE_RETENTION_SECONDS = 4 * DAY_SECONDS;

/**
 * How long EventBridge keeps retrying to put a decision on a handler queue before it sends it to the
 * event-routing dead-letter queue (EventBridge's maximum, made explicit in components/event-routing.ts).
 */
export const EVENT_MAX_AGE_SECONDS = 24 * HOUR_SECONDS;

/**
 * A delivery parked because its mailbox needs an operator is re-parked on every retry run, until this
 * long after it was first parked; then it fails to the retry dead-letter queue, where it can still be
 * redriven for DEAD_LETTER_RETENTION_SECONDS. Two weeks leave room for a holiday; the parked-delivery
 * alarm fires within the hour of the first park.
 */
export const RETRY_MAX_PARKED_SECONDS = 14 * DAY_SECONDS;

/** The retry processor runs this often (its schedule is derived from it: components/retry-processor.ts). */
export const RETRY_RUN_INTERVAL_SECONDS = HOUR_SECONDS;

/**
 * A re-parked delivery stays invisible this long (the SQS maximum), so the retry processor draining the
 * queue cannot meet it again in the same run and loop while the token is still expired.
 */
export const RETRY_REPARK_DELAY_SECONDS = 900;

/**
 * The longest one retry run takes to hand a message to the forwarder and dead-letter it: four attempts at
 * the forwarder's 5-minute timeout plus 210 s of backoff (components/workflows.ts retryVisibilitySeconds,
 * about 25 minutes). A test holds the state machine to it.
 */
export const RETRY_RUN_MAX_SECONDS = HOUR_SECONDS;

/** One stretch of a reference's life: what holds it, and for at most how long. */
export interface ReferenceStage {
  readonly holder: string;
  readonly seconds: number;
}

/** A way a reference to a raw message travels, with the longest it can take at each stage. */
export interface ReferencePath {
  readonly name: string;
  readonly stages: readonly ReferenceStage[];
}

/** Every path a reference to a raw message can take, each with the longest it can last (see the top of this file). */
export function rawMessageReferencePaths(): ReferencePath[] {
  // Until the router picks it up, the notification waits in the input queue (its consumer being stopped).
  const routed: ReferenceStage = { holder: "input queue, until routed", seconds: WORKING_QUEUE_RETENTION_SECONDS };
  const onBus: ReferenceStage = { holder: "event bus retries", seconds: EVENT_MAX_AGE_SECONDS };
  const handlerQueue: ReferenceStage = { holder: "forwarder queue, until first delivered", seconds: WORKING_QUEUE_RETENTION_SECONDS };
  const deadLetter = (queue: string): ReferenceStage => ({ holder: `${queue} dead-letter queue`, seconds: DEAD_LETTER_RETENTION_SECONDS });
  return [
    // SQS keeps a dead letter's original enqueue time, so the input DLQ ends 14 days after SES stored the message.
    { name: "input queue, then its dead-letter queue", stages: [deadLetter("input")] },
    { name: "event bus, then the event-routing dead-letter queue", stages: [routed, onBus, deadLetter("event-routing")] },
    { name: "forwarder or bouncer queue, then its dead-letter queue", stages: [routed, onBus, deadLetter("handler")] },
    {
      name: "parked in the retry queue, then the retry dead-letter queue",
      stages: [
        routed,
        onBus,
        handlerQueue,
        { holder: "parked, waiting for re-authorization", seconds: RETRY_MAX_PARKED_SECONDS },
        {
          holder: "the next retry run after the parking window",
          seconds: RETRY_RUN_INTERVAL_SECONDS + RETRY_REPARK_DELAY_SECONDS + RETRY_RUN_MAX_SECONDS,
        },
        // The retry DLQ (or, if no run ever comes, the retry queue itself) keeps the last parked message at most this long.
        deadLetter("retry"),
      ],
    },
  ];
}

export function pathSeconds(path: ReferencePath): number {
  return path.stages.reduce((sum, stage) => sum + stage.seconds, 0);
}

/** The path whose reference lives longest, and how long. */
export function longestReferencePath(): { readonly path: ReferencePath; readonly seconds: number } {
  const [first, ...rest] = rawMessageReferencePaths().map((path) => ({ path, seconds: pathSeconds(path) }));
  return rest.reduce((longest, candidate) => (candidate.seconds > longest.seconds ? candidate : longest), first!);
}

/**
 * The fewest days the bucket may keep a raw message nobody deleted: the longest reference, in whole days.
 * It is also the default of `ses-mail:emailRetentionDays`.
 */
export const MIN_EMAIL_RETENTION_DAYS = Math.ceil(longestReferencePath().seconds / DAY_SECONDS);

/** The longest reference in words, for error messages and docs: `parked … (14 d) + … = 37.1 days`. */
export function describeLongestReference(): string {
  const { path, seconds } = longestReferencePath();
  const parts = path.stages.map((stage) => `${stage.holder} ${formatDays(stage.seconds)}`);
  return `${path.name}: ${parts.join(" + ")} = ${formatDays(seconds)}`;
}

function formatDays(seconds: number): string {
  const trim = (text: string) => text.replace(/\.?0+$/, "");
  if (seconds % DAY_SECONDS === 0) return `${seconds / DAY_SECONDS} d`;
  if (seconds < DAY_SECONDS) return `${trim((seconds / HOUR_SECONDS).toFixed(2))} h`;
  return `${trim((seconds / DAY_SECONDS).toFixed(2))} d`;
}

/**
 * How long a (message, Gmail account) import is remembered: as long as any reference can bring the
 * message back to the forwarder, and a day more for clock skew and a slow redrive. A redelivered or
 * redriven record therefore always finds its record and never imports twice.
 */
export const DELIVERY_RECORD_TTL_SECONDS = longestReferencePath().seconds + DAY_SECONDS;

/**
 * How long a message's record (`MESSAGE#<id>`: which consumers are done, and its fate for `ses-mail
 * trace`) is kept after its last change: a quarter of a year, so "what happened to the mail from last
 * month?" has an answer, and always longer than any reference (a test holds it).
 */
export const MESSAGE_RECORD_TTL_SECONDS = 90 * DAY_SECONDS;
