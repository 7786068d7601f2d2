/**
 * What a local queue message is about, read leniently from its body (pure; for lines, dead letters and
 * `trace`): the shapes local mode's queues carry are an SES receipt notification (input), a routing
 * decision event (forwarder, bouncer), and a retry message wrapping one (the retry queue).
 */
import type { DecisionDetail } from "../core/decision";
import { RETRY_MESSAGE_KIND, type RetryMessage } from "../core/delivery";

function parse(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The decision inside a handler queue body: an EventBridge event, or a retry message wrapping one. */
export function detailOf(body: string): DecisionDetail | undefined {
  const value = parse(body) as { detail?: unknown; event?: { detail?: unknown } } | undefined;
  const detail = (value?.detail ?? value?.event?.detail) as DecisionDetail | undefined;
  return detail && typeof detail.originalMessageId === "string" ? detail : undefined;
}

/** The retry message a retry-queue body is, if it is one. */
export function retryMessageOf(body: string): RetryMessage | undefined {
  const value = parse(body);
  return value?.kind === RETRY_MESSAGE_KIND && typeof value.target === "string" ? (value as unknown as RetryMessage) : undefined;
}

/** The SES message id a queue body is about: a notification's, a decision's, or a retry message's. */
export function messageIdOf(body: string): string | undefined {
  const detail = detailOf(body);
  if (detail) return detail.originalMessageId;
  const value = parse(body) as { mail?: { messageId?: unknown }; Type?: unknown; Message?: unknown } | undefined;
  if (value?.Type === "Notification" && typeof value.Message === "string") return messageIdOf(value.Message);
  return typeof value?.mail?.messageId === "string" ? value.mail.messageId : undefined;
}

/** The envelope recipients a queue body names (a notification's destination, or a decision's recipients). */
export function recipientsOf(body: string): string[] {
  const detail = detailOf(body);
  if (detail) return [...new Set(Object.values(detail.actions).flatMap((summary) => summary.targets.map((target) => target.recipient)))];
  const value = parse(body) as { mail?: { destination?: unknown }; Type?: unknown; Message?: unknown } | undefined;
  if (value?.Type === "Notification" && typeof value.Message === "string") return recipientsOf(value.Message);
  const destination = value?.mail?.destination;
  return Array.isArray(destination) ? destination.filter((item): item is string => typeof item === "string") : [];
}
