/**
 * Powertools logger, metrics and tracer for one function. Built inside the Lambda factory (at cold
 * start), never at module level: their internals cannot be serialized into the Lambda closure.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
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
    tracer: new Tracer({ serviceName }),
  };
}

/**
 * Runs `work` inside an X-Ray subsegment, so annotations it puts belong to this unit of work
 * (a plain call when tracing is off, as it is outside Lambda).
 */
export async function traced<T>(tracer: Tracer, name: string, work: () => Promise<T>): Promise<T> {
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
