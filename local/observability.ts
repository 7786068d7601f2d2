/**
 * Powertools for the handlers local mode runs. The terminal belongs to local mode's own lines, which
 * are built from the outcomes the handlers report (local/log-line.ts): they already say everything an
 * operator acts on, in one line each. So the handlers' JSON logs (the CloudWatch view, with stack
 * traces) are off unless POWERTOOLS_LOG_LEVEL asks for them; metrics are counted but never printed
 * (there is no CloudWatch to read their EMF lines, which Powertools would otherwise write to stdout
 * every 100 values), through Powertools' own switch POWERTOOLS_METRICS_DISABLED unless it is set; and
 * tracing is off (without loading the X-Ray SDK).
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { NO_TRACING, type Observability } from "../handlers/observability";

type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT" | "CRITICAL" | "TRACE";

export function createLocalObservability(serviceName: string, options: { logLevel?: LogLevel } = {}): Observability {
  const logLevel = options.logLevel ?? ((process.env.POWERTOOLS_LOG_LEVEL as LogLevel | undefined) || "SILENT");
  const logger = new Logger({ serviceName, logLevel });
  // Read when Metrics is built; local mode is its own process, so this setting stays in it.
  process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  // Its own warnings ("no metrics to publish") go to the logger, not to the console.
  const metrics = new Metrics({ serviceName, namespace: "SESMail/local", logger });
  return {
    logger,
    metrics,
    tracer: NO_TRACING,
  };
}
