/**
 * What handlers log, count and trace through: three small interfaces of exactly what they call, so a
 * handler depends on its needs rather than on Powertools' classes (a test or local mode may hand in
 * anything that has these methods). `createObservability` builds them from Powertools' Logger, Metrics
 * and Tracer inside the Lambda factory (at cold start), never at module level: their internals cannot
 * be serialized into the Lambda closure.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import type { MetricUnit } from "../core/outcomes";

/** Structured attributes of one log line. */
export type LogAttributes = Readonly<Record<string, unknown>>;

/** Structured JSON logs (CloudWatch Logs in Lambda); the attribute objects are merged into the line. */
export interface HandlerLogger {
  info(message: string, ...attributes: LogAttributes[]): void;
  warn(message: string, ...attributes: LogAttributes[]): void;
  error(message: string, ...attributes: LogAttributes[]): void;
  /** Adds keys to every following line (a message's correlation id) until they are removed. */
  appendKeys(attributes: LogAttributes): void;
  removeKeys(keys: string[]): void;
  /** Puts the invocation's request id, function name and cold start on every line. */
  addContext(context: Context): void;
}

/** Metrics, buffered and written as CloudWatch embedded metric format when published. */
export interface HandlerMetrics {
  addMetric(name: string, unit: MetricUnit, value: number): void;
  /** Writes what was added; the entry calls it after every invocation (handlers/entry.ts). */
  publishStoredMetrics(): void;
}

/** An X-Ray segment or subsegment, as far as `traced` uses one. */
export interface TraceSegment {
  addNewSubsegment(name: string): TraceSubsegment;
}

export interface TraceSubsegment extends TraceSegment {
  addError(error: Error): void;
  close(): void;
}

/** X-Ray tracing: annotations on the current (sub)segment. */
export interface HandlerTracer {
  isTracingEnabled(): boolean;
  getSegment(): TraceSegment | undefined;
  setSegment(segment: TraceSegment): void;
  putAnnotation(key: string, value: string | number | boolean): void;
}

export interface Observability {
  readonly logger: HandlerLogger;
  readonly metrics: HandlerMetrics;
  readonly tracer: HandlerTracer;
}

/** Metric namespace when POWERTOOLS_METRICS_NAMESPACE is unset (the stacks set `SESMail/<env>`). */
export const DEFAULT_METRICS_NAMESPACE = "SESMail";

/** `quiet` silences the logger: for the CLI, whose stdout belongs to the user. */
export function createObservability(serviceName: string, options: { quiet?: boolean } = {}): Observability {
  return {
    logger: new Logger({ serviceName, ...(options.quiet ? { logLevel: "SILENT" as const } : {}) }),
    metrics: new Metrics({
      serviceName,
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
    }),
    tracer: createTracer(serviceName),
  };
}

/**
 * Powertools' Tracer, loaded when a Lambda builds its observability rather than with this module: it
 * loads the X-Ray SDK (0.2 s), which local mode and the CLI, which import the handlers, never trace with.
 */
function createTracer(serviceName: string): HandlerTracer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { Tracer } = require("@aws-lambda-powertools/tracer") as typeof import("@aws-lambda-powertools/tracer");
  return new Tracer({ serviceName });
}

/** Tracing off, without loading the X-Ray SDK: what local mode hands the handlers. */
export const NO_TRACING: HandlerTracer = {
  isTracingEnabled: () => false,
  getSegment: () => undefined,
  setSegment: () => undefined,
  putAnnotation: () => undefined,
};

/**
 * Runs `work` inside an X-Ray subsegment, so annotations it puts belong to this unit of work
 * (a plain call when tracing is off, as it is outside Lambda).
 */
export async function traced<T>(tracer: HandlerTracer, name: string, work: () => Promise<T>): Promise<T> {
  const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (!parent) return work();
  const subsegment = parent.addNewSubsegment(name);
  tracer.setSegment(subsegment);
  try {
    return await work();
  } catch (error) {
    subsegment.addError(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(parent);
  }
}
