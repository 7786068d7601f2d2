/**
 * `ses-mail dns`: every DNS record the stack's domains need, from the stack config's domains and the
 * SES identities deployed in its region, as a table, a zone file (`--zone`) or data (`--json`).
 *
 * The MX, SPF and DMARC records follow from the config alone; the DKIM CNAMEs (and the legacy
 * verification TXT) exist only once `pulumi up` has created the SES identity. Without AWS credentials
 * (or with `--offline`) it prints what the config gives and says which records need the deployed stack.
 */
import { GetIdentityDkimAttributesCommand, GetIdentityVerificationAttributesCommand, SESClient } from "@aws-sdk/client-ses";
import { canonicalize } from "../core/addresses";
import {
  DEFAULT_TTL_SECONDS,
  domainRecords,
  receivesMail,
  SES_RECEIVING_REGIONS,
  zoneFile,
  type DnsRecord,
  type IdentityState,
} from "./dns-records";
import { formatTable, UserError, type Command, JSON_OPTION } from "./framework";
import { aws, resolveStack, STACK_OPTIONS, STACK_USAGE, type StackTarget } from "./stack-target";

/** SES accepts at most 100 identities per Get…Attributes call. */
const SES_IDENTITIES_PER_CALL = 100;

async function identityStates(ses: SESClient, target: StackTarget, domains: readonly string[]): Promise<Map<string, IdentityState>> {
  const states = new Map<string, IdentityState>();
  for (let i = 0; i < domains.length; i += SES_IDENTITIES_PER_CALL) {
    const batch = domains.slice(i, i + SES_IDENTITIES_PER_CALL);
    const [verification, dkim] = await Promise.all([
      aws(target, "the SES identities", () => ses.send(new GetIdentityVerificationAttributesCommand({ Identities: batch }))),
      aws(target, "the SES identities", () => ses.send(new GetIdentityDkimAttributesCommand({ Identities: batch }))),
    ]);
    for (const domain of batch) {
      const v = verification.VerificationAttributes?.[domain];
      const d = dkim.DkimAttributes?.[domain];
      if (!v && !d) continue; // not an identity in this region
      states.set(domain, {
        ...(v?.VerificationStatus ? { verificationStatus: v.VerificationStatus } : {}),
        ...(v?.VerificationToken ? { verificationToken: v.VerificationToken } : {}),
        ...(d?.DkimVerificationStatus ? { dkimStatus: d.DkimVerificationStatus } : {}),
        dkimTokens: d?.DkimTokens ?? [],
      });
    }
  }
  return states;
}

function parseTtl(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TTL_SECONDS;
  const ttl = Number(text);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 86400)
    throw new UserError(`--ttl must be a whole number of seconds from 60 to 86400, not ${JSON.stringify(text)}`);
  return ttl;
}

const dns: Command = {
  name: "dns",
  summary: "Print the DNS records the stack's domains need (MX, verification, DKIM, SPF, DMARC)",
  usage: `ses-mail dns [--domain NAME]... [--zone [--ttl SECONDS]] [--json] ${STACK_USAGE}`,
  options: {
    domain: {
      type: "string",
      multiple: true,
      value: "NAME",
      description: "only this domain of the stack",
      defaultsTo: "every domain of ses-mail:domains",
    },
    zone: { type: "boolean", description: "print a zone file to paste at the DNS provider instead of a table" },
    offline: { type: "boolean", description: "do not ask AWS: only the records the config gives (MX, SPF, DMARC), without DKIM" },
    ttl: {
      type: "string",
      value: "SECONDS",
      description: "the TTL of the zone file's records (60 to 86400)",
      defaultsTo: String(DEFAULT_TTL_SECONDS),
    },
    ...JSON_OPTION,
    ...STACK_OPTIONS,
  },
  positionals: [0, 0],
  examples: ["ses-mail dns --stack prod", "ses-mail dns --stack prod --zone --ttl 300"],
  async run(context) {
    const { out, values } = context;
    if (values.zone && values.json) throw new UserError("give --zone or --json, not both");
    const ttl = parseTtl(values.ttl as string | undefined);
    const target = resolveStack(context);
    const configured = target.config.domains;
    const asked = ((values.domain as string[] | undefined) ?? []).map((domain) => canonicalize(domain.trim()));
    const unknown = asked.filter((domain) => !configured.includes(domain));
    if (unknown.length > 0)
      throw new UserError(
        `${unknown.join(", ")} is not a domain of stack ${target.env} (its domains: ${configured.join(", ")}); add it to ses-mail:domains first`,
      );
    const domains = asked.length > 0 ? asked : [...configured];

    if (!receivesMail(target.region)) {
      out.note(
        `warning: SES does not receive mail in ${target.region} (regions that do: ${Object.keys(SES_RECEIVING_REGIONS).join(", ")}); an MX to ${target.region} gets no mail. Deploy the stack in a receiving region.`,
      );
    }
    // What the deployed identities say; without them (offline, no credentials) only the config's records.
    let states = new Map<string, IdentityState>();
    let offline: string | undefined = values.offline === true ? "--offline" : undefined;
    if (!offline) {
      const ses = new SESClient(target.clientConfig("SES"));
      try {
        states = await identityStates(ses, target, domains);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        offline = error.message;
      } finally {
        ses.destroy();
      }
    }
    if (offline) {
      out.note(
        `note: not asking AWS (${offline}): these are the records the stack config gives. The 3 DKIM CNAMEs of each domain come from SES once the stack is deployed ` +
          `(pulumi up): run \`ses-mail dns --stack ${target.env}\` with AWS credentials (AWS_PROFILE, aws sso login) to get them`,
      );
    } else {
      for (const domain of domains.filter((name) => !states.has(name))) {
        out.note(
          `warning: ${domain} is not an SES identity in ${target.region}, so it has no DKIM records yet: deploy the stack (pulumi up) and run this again`,
        );
      }
    }
    const records: DnsRecord[] = domains.flatMap((domain) => domainRecords(domain, target.region, states.get(domain)));

    if (values.json) {
      out.json(records);
      return;
    }
    if (values.zone) {
      const header = [
        `DNS records for ses-mail ${target.description}; paste into the zone of each domain.`,
        'Lines after a "suggestion" comment are optional; merge SPF into an existing SPF record.',
        ...(offline
          ? [`Without the DKIM CNAMEs: they need the deployed stack (ses-mail dns --stack ${target.env} with AWS credentials).`]
          : []),
      ];
      for (const line of zoneFile(records, ttl, header)) out.line(line);
      return;
    }
    const rows = records.map((record) => [
      record.name,
      record.type,
      record.value,
      record.required ? record.purpose : `${record.purpose} (suggested)`,
      record.status ?? "",
    ]);
    for (const line of formatTable([["NAME", "TYPE", "VALUE", "PURPOSE", "SES STATUS"], ...rows])) out.line(line);
    if (offline)
      out.line(`+ 3 DKIM CNAMEs per domain (<token>._domainkey.<domain> → <token>.dkim.amazonses.com): they need the deployed stack`);
    const pending = [...states.entries()].filter(([, state]) => state.dkimStatus !== "Success").map(([domain]) => domain);
    if (pending.length > 0) {
      out.line(
        `SES has not seen the DKIM records of ${pending.join(", ")} yet: publish them; SES checks for up to 72 hours. Run this again to see the status.`,
      );
    }
  },
};

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const DNS_COMMANDS: readonly Command[] = [dns];
