/**
 * The DNS records a domain needs to receive mail with SES, pure: MX to the region's inbound endpoint,
 * the domain verification TXT, the three Easy DKIM CNAMEs, and SPF and DMARC suggestions; as rows for a
 * table or as zone-file lines.
 */

/**
 * Regions where SES receives mail, and so has `inbound-smtp.<region>.amazonaws.com` (the "Email
 * Receiving endpoints" table of the AWS General Reference, as of January 2024). SES sends in more
 * regions than it receives; an MX pointing at a region outside this list gets no mail.
 */
export const SES_RECEIVING_REGIONS: Readonly<Record<string, string>> = {
  "us-east-1": "US East (N. Virginia)",
  "us-east-2": "US East (Ohio)",
  "us-west-2": "US West (Oregon)",
  "ap-southeast-3": "Asia Pacific (Jakarta)",
  "ap-southeast-1": "Asia Pacific (Singapore)",
  "ap-southeast-2": "Asia Pacific (Sydney)",
  "ap-northeast-1": "Asia Pacific (Tokyo)",
  "ca-central-1": "Canada (Central)",
  "eu-central-1": "Europe (Frankfurt)",
  "eu-west-1": "Europe (Ireland)",
  "eu-west-2": "Europe (London)",
};

export function receivesMail(region: string): boolean {
  return Object.hasOwn(SES_RECEIVING_REGIONS, region);
}

/** The MX target of a region (components/arns.ts builds the same name for the stack outputs). */
export function inboundEndpoint(region: string): string {
  return `inbound-smtp.${region}.amazonaws.com`;
}

/** Zone-file TTL when none is given: an hour, so a mistake is corrected within the hour. */
export const DEFAULT_TTL_SECONDS = 3600;

export type RecordPurpose = "receive" | "verify" | "dkim" | "spf" | "dmarc";

export interface DnsRecord {
  readonly domain: string;
  /** Fully qualified, without the trailing dot. */
  readonly name: string;
  readonly type: "MX" | "TXT" | "CNAME";
  /** As a DNS console wants it: `10 host` for MX, the text without quotes for TXT, the host for CNAME. */
  readonly value: string;
  readonly purpose: RecordPurpose;
  /** Whether ses-mail needs it (MX, DKIM) or only suggests it (SPF, DMARC, the legacy TXT). */
  readonly required: boolean;
  /** What SES says about it, when SES checks it: Success, Pending, Failed, TemporaryFailure, NotStarted. */
  readonly status?: string;
  readonly note?: string;
}

/** What SES reports for a domain identity (GetIdentityVerificationAttributes / GetIdentityDkimAttributes). */
export interface IdentityState {
  readonly verificationStatus?: string;
  readonly verificationToken?: string;
  readonly dkimStatus?: string;
  readonly dkimTokens: readonly string[];
}

export function domainRecords(domain: string, region: string, identity: IdentityState | undefined): DnsRecord[] {
  const records: DnsRecord[] = [
    {
      domain,
      name: domain,
      type: "MX",
      value: `10 ${inboundEndpoint(region)}`,
      purpose: "receive",
      required: true,
      note: "the only MX of the domain: mail for it goes to SES",
    },
  ];
  if (identity?.verificationToken) {
    records.push({
      domain,
      name: `_amazonses.${domain}`,
      type: "TXT",
      value: identity.verificationToken,
      purpose: "verify",
      // With Easy DKIM the CNAMEs below verify the domain; SES still accepts this older record.
      required: false,
      ...(identity.verificationStatus ? { status: identity.verificationStatus } : {}),
      note: "legacy domain verification; the DKIM records verify the domain too",
    });
  }
  for (const token of identity?.dkimTokens ?? []) {
    records.push({
      domain,
      name: `${token}._domainkey.${domain}`,
      type: "CNAME",
      value: `${token}.dkim.amazonses.com`,
      purpose: "dkim",
      required: true,
      ...(identity?.dkimStatus ? { status: identity.dkimStatus } : {}),
    });
  }
  records.push(
    {
      domain,
      name: domain,
      type: "TXT",
      value: "v=spf1 include:amazonses.com ~all",
      purpose: "spf",
      required: false,
      note: "suggestion; a domain has one SPF record: add include:amazonses.com to an existing one instead",
    },
    {
      domain,
      name: `_dmarc.${domain}`,
      type: "TXT",
      value: `v=DMARC1; p=none; rua=mailto:postmaster@${domain}`,
      purpose: "dmarc",
      required: false,
      note: "suggestion; start with p=none, move to quarantine or reject once the reports look clean",
    },
  );
  return records;
}

/** A TXT value as zone-file text: quoted, `"` and `\` escaped, split into 255-byte strings (RFC 1035 §3.3). */
export function quoteTxt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return (parts.length ? parts : [""]).map((part) => `"${part.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(" ");
}

function absolute(host: string): string {
  return host.endsWith(".") ? host : `${host}.`;
}

/** One record as a zone-file line, every name fully qualified. */
export function zoneLine(record: DnsRecord, ttl: number): string {
  let value: string;
  switch (record.type) {
    case "MX": {
      const [preference, host] = record.value.split(" ");
      value = `${preference} ${absolute(host ?? "")}`;
      break;
    }
    case "CNAME":
      value = absolute(record.value);
      break;
    case "TXT":
      value = quoteTxt(record.value);
      break;
  }
  return `${absolute(record.name)}\t${ttl}\tIN\t${record.type}\t${value}`;
}

/** The records of several domains as a zone file: a comment block per domain, suggestions marked. */
export function zoneFile(records: readonly DnsRecord[], ttl: number, header: readonly string[]): string[] {
  const lines = header.map((line) => `; ${line}`);
  let domain: string | undefined;
  for (const record of records) {
    if (record.domain !== domain) {
      domain = record.domain;
      lines.push("", `; ${domain}`);
    }
    if (!record.required) lines.push(`; ${record.purpose} (${record.note ?? "suggestion"})`);
    lines.push(zoneLine(record, ttl));
  }
  return lines;
}
