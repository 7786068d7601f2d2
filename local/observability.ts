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

export function createLocalObservability(serviceName: string, options: { logLevel?: LogLevel } = {}): Observability {
  const logLevel = options.logLevel ?? ((process.env.POWERTOOLS_LOG_LEVEL as LogLevel | undefined) || "WARN");
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
    logger: new Logger({ serviceName, logLevel }),
    metrics: silent,
    tracer: new Tracer({ serviceName, enabled: false }),
  };
}
