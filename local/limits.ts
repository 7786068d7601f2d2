/**
 * Local mode's limits, each with what it stops. SES's own limits (message size, recipients) are in
 * core/limits.ts and apply here unchanged.
 */
import { SES_MAX_MESSAGE_BYTES } from "../core/limits";

/**
 * A message is held in memory while it arrives up to this size; a larger one is spooled to disk as it
 * arrives. Stops ten concurrent 40 MB messages from costing 400 MB of heap.
 */
export const INTAKE_MEMORY_SPOOL_BYTES = 1024 * 1024;

/**
 * The header block is parsed (subject, From, the notification's `headers`) from at most this many bytes.
 * An attacker's megabytes of headers cost a bounded scan, never a full parse.
 */
export const HEADER_PARSE_MAX_BYTES = 256 * 1024;

/**
 * SES truncates the `mail.headers` list of a notification when the headers are larger than 10 KB and sets
 * `headersTruncated`; local mode does the same, so the event the router reads has the same bounded size.
 */
export const SES_NOTIFICATION_HEADERS_MAX_BYTES = 10 * 1024;

/**
 * One DNS question may take this long before it counts as a temporary failure. Without it, a machine
 * without DNS would hold every SMTP transaction for the resolver's own retries (tens of seconds).
 */
export const DNS_QUERY_TIMEOUT_MS = 2000;

/**
 * How long local mode reuses a DNS answer, found or not found (NXDOMAIN, no data). A burst of mail from
 * one domain asks the same SPF and DMARC questions for every message; a resolver that drops queries
 * past a rate (measured on this machine's: one in about 50 lost, each costing a 1 s retry) then holds
 * SMTP transactions for seconds. A minute is shorter than most SPF and DMARC TTLs, so a changed record
 * is seen soon enough for testing. Temporary failures (timeouts, SERVFAIL) are never reused.
 */
export const DNS_CACHE_TTL_MS = 60_000;

/** Answers kept at most: a sender that varies its domain on every message cannot grow the cache without bound. */
export const DNS_CACHE_MAX_ENTRIES = 10_000;

/**
 * SPF, DKIM and DMARC together get this long; past it the verdicts are PROCESSING_FAILED and the
 * message is accepted anyway, as SES does. Bounds the time a hostile DNS zone can hold a transaction.
 */
export const AUTHENTICATION_DEADLINE_MS = 10_000;

/**
 * Messages accepted but not yet routed and delivered, past which a new transaction waits (up to
 * IN_FLOW_DELAY_MAX_MS) at MAIL FROM for the backlog to shrink, as Postfix's in_flow_delay does: when
 * mail arrives faster than it is delivered, senders are slowed instead of the queues growing.
 * Two handler batches' worth keeps every stage busy; more only adds waiting (measured with
 * `npm run bench -- local`: at 100 the accept-to-Maildir p50 was ~800 ms, at 20 ~180 ms, for the
 * same throughput).
 */
export const INTAKE_BACKLOG_SOFT_LIMIT = 20;

/** The longest a MAIL FROM waits on a backlog past the soft limit (Postfix's in_flow_delay default). */
export const IN_FLOW_DELAY_MAX_MS = 1000;

/**
 * Past this backlog MAIL FROM is refused with 451 4.3.2 (the sender keeps the message and retries).
 * Queued messages are held in memory as well as journalled, so a flood must not grow them without bound.
 */
export const INTAKE_BACKLOG_HARD_LIMIT = 2000;

/** Concurrent SMTP connections; more are refused with 421. Stops a connection flood from exhausting file descriptors. */
export const SMTP_MAX_CLIENTS = 100;

/**
 * Concurrent SMTP connections from one client address (for IPv6, from one /64: a single host usually
 * has a whole /64 to pick addresses from); more are refused with 421. Stops one peer from holding
 * every slot (SMTP_MAX_CLIENTS connections left idle for SMTP_SOCKET_TIMEOUT_MS each) and so locking
 * every other sender out: filling the server then takes five addresses. Twice what the bench's ten
 * concurrent clients need, as Postfix's smtpd_client_connection_count_limit is half its process limit.
 */
export const SMTP_MAX_CLIENTS_PER_ADDRESS = 20;

/** An idle SMTP connection is closed after this long (RFC 5321 §4.5.3.2 suggests at least 5 minutes). */
export const SMTP_SOCKET_TIMEOUT_MS = 5 * 60 * 1000;

/**
 * When local mode stops, open SMTP connections get this long to finish their transaction, then 421:
 * Ctrl-C answers within seconds even while a slow client holds a connection.
 */
export const SMTP_CLOSE_TIMEOUT_MS = 3000;

/** The per-message log line names at most this many recipients, then "+N more": 100 recipients stay one readable line. */
export const LOG_LINE_MAX_RECIPIENTS = 5;

/**
 * Free space the data directory's filesystem must have for local mode to take mail and deliver it:
 * one and a half times the largest message (SES's 40 MB), as Postfix advises for queue_minfree. A
 * message arriving is spooled and then stored, so a full-size one needs about twice its size for a
 * moment. Below it MAIL FROM is answered 451 and deliveries wait (storage.ts), so a filling disk
 * refuses mail before writes start to fail; above it again both resume by themselves.
 */
export const STORAGE_MIN_FREE_BYTES = Math.ceil(1.5 * SES_MAX_MESSAGE_BYTES);

/** Free inodes needed, likewise: a message takes a few files on its way (spool, store, journals, Maildir). */
export const STORAGE_MIN_FREE_INODES = 1000;

/** While local mode cannot persist, how often it looks again (free space, the DynamoDB store). */
export const STORAGE_RECHECK_MS = 1000;

/**
 * A good storage check is reused this long, so MAIL FROM and each handler batch do not each cost a
 * statfs; a call that failed always looks again.
 */
export const STORAGE_CHECK_REUSE_MS = 100;

/**
 * After the DynamoDB worker failed (LevelDB could not write to a full disk), a new one is started after
 * this long, then after twice as long each time it still cannot open the database, up to
 * DYNAMODB_RESTART_MAX_DELAY_MS: it comes back within seconds of space returning, without spinning.
 */
export const DYNAMODB_RESTART_DELAY_MS = 250;
export const DYNAMODB_RESTART_MAX_DELAY_MS = 4000;

/** How often expired items (idempotency, bounce throttling) are removed from dynalite, which has no TTL. */
export const TTL_SWEEP_INTERVAL_MS = 60_000;

/** Validity of the generated STARTTLS certificate: some TLS clients refuse server certificates valid over 398 days. */
export const SELF_SIGNED_VALIDITY_DAYS = 397;

/** A self-signed certificate is replaced when it has less than this left. */
export const SELF_SIGNED_RENEW_BEFORE_DAYS = 30;
