/**
 * Powertools for the handlers local mode runs. The terminal belongs to the per-message lines, so the
 * logger shows warnings and errors only (POWERTOOLS_LOG_LEVEL overrides), metrics are counted but never
 * printed (there is no CloudWatch to read their EMF lines, which Powertools would otherwise write to
 * stdout every 100 values), and tracing is off.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { Observability } from "../handlers/observability";

type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT" | "CRITICAL" | "TRACE";

/** A log call a handler made: its message and the attributes object given with it. */
export type LogObserver = (level: "info" | "warn" | "error", message: string, attributes: Readonly<Record<string, unknown>>) => void;

export function createLocalObservability(serviceName: string, options: { logLevel?: LogLevel; observe?: LogObserver } = {}): Observability {
  const logLevel = options.logLevel ?? ((process.env.POWERTOOLS_LOG_LEVEL as LogLevel | undefined) || "WARN");
  const logger = new Logger({ serviceName, logLevel });
  const { observe } = options;
  if (observe) {
    // Local mode reads what a handler did from what it logs (a bounce suppressed, a delivery parked),
    // whatever the log level, to say so in the message's line.
    for (const level of ["info", "warn", "error"] as const) {
      const original = logger[level].bind(logger);
      logger[level] = (input: unknown, ...extra: unknown[]) => {
        const message = typeof input === "string" ? input : String((input as { message?: unknown } | null)?.message ?? "");
        const attributes = (extra.find((item) => typeof item === "object" && item !== null && !(item instanceof Error)) ?? {}) as Record<string, unknown>;
        observe(level, message, attributes);
        (original as (input: unknown, ...extra: unknown[]) => void)(input, ...extra);
      };
    }
  }
  const metrics = new Metrics({ serviceName, namespace: "SESMail/local" });
  const silent = Object.assign(metrics, {
    publishStoredMetrics(): Metrics {
      metrics.clearMetrics();
      metrics.clearDimensions();
      metrics.clearMetadata();
      return metrics;
    },
  });
  return {
    logger,
    metrics: silent,
    tracer: new Tracer({ serviceName, enabled: false }),
  };
}
