import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GetIdentityDkimAttributesCommand, GetIdentityVerificationAttributesCommand, SESClient } from "@aws-sdk/client-ses";
import { mockClient } from "aws-sdk-client-mock";
import { DNS_COMMANDS } from "../../cli/dns";
import { domainRecords, quoteTxt, receivesMail, zoneLine } from "../../cli/dns-records";
import { runCli } from "../../cli/framework";
import { captureOutput } from "../helpers/cli";

const ses = mockClient(SESClient);
const DKIM = ["aaaatoken1", "bbbbtoken2", "cccctoken3"];

async function cli(...argv: string[]) {
  const out = captureOutput();
  const code = await runCli(DNS_COMMANDS, argv, out, { PATH: process.env.PATH });
  return { code, ...out };
}

describe("ses-mail dns", () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-dns-"))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    ses.reset();
    ses.on(GetIdentityVerificationAttributesCommand).resolves({
      VerificationAttributes: { "test.example.com": { VerificationStatus: "Success", VerificationToken: "VerifyMe+/=" } },
    });
    ses.on(GetIdentityDkimAttributesCommand).resolves({
      DkimAttributes: { "test.example.com": { DkimEnabled: true, DkimVerificationStatus: "Pending", DkimTokens: DKIM } },
    });
  });

  it("lists every record of the stack's domain with SES's status, from the deployed identity", async () => {
    const result = await cli("dns", "--stack", "test");

    expect(result.code).toBe(0);
    expect(ses.commandCalls(GetIdentityDkimAttributesCommand)[0]!.args[0].input.Identities).toEqual(["test.example.com"]);
    expect(result.stdout.map((line) => line.split(/\s{2,}/))).toEqual([
      ["NAME", "TYPE", "VALUE", "PURPOSE", "SES STATUS"],
      ["test.example.com", "MX", "10 inbound-smtp.eu-west-2.amazonaws.com", "receive"],
      ["_amazonses.test.example.com", "TXT", "VerifyMe+/=", "verify (suggested)", "Success"],
      ["aaaatoken1._domainkey.test.example.com", "CNAME", "aaaatoken1.dkim.amazonses.com", "dkim", "Pending"],
      ["bbbbtoken2._domainkey.test.example.com", "CNAME", "bbbbtoken2.dkim.amazonses.com", "dkim", "Pending"],
      ["cccctoken3._domainkey.test.example.com", "CNAME", "cccctoken3.dkim.amazonses.com", "dkim", "Pending"],
      ["test.example.com", "TXT", "v=spf1 include:amazonses.com ~all", "spf (suggested)"],
      ["_dmarc.test.example.com", "TXT", "v=DMARC1; p=none; rua=mailto:postmaster@test.example.com", "dmarc (suggested)"],
      [
        "SES has not seen the DKIM records of test.example.com yet: publish them; SES checks for up to 72 hours. Run this again to see the status.",
      ],
    ]);
    expect(result.stderr).toEqual([]);
  });

  it("writes a zone file with fully qualified names, quoted TXT and the chosen TTL", async () => {
    const result = await cli("dns", "--stack", "test", "--zone", "--ttl", "300");
    expect(result.code).toBe(0);
    const records = result.stdout.filter((line) => line && !line.startsWith(";"));
    expect(records).toEqual([
      "test.example.com.\t300\tIN\tMX\t10 inbound-smtp.eu-west-2.amazonaws.com.",
      '_amazonses.test.example.com.\t300\tIN\tTXT\t"VerifyMe+/="',
      "aaaatoken1._domainkey.test.example.com.\t300\tIN\tCNAME\taaaatoken1.dkim.amazonses.com.",
      "bbbbtoken2._domainkey.test.example.com.\t300\tIN\tCNAME\tbbbbtoken2.dkim.amazonses.com.",
      "cccctoken3._domainkey.test.example.com.\t300\tIN\tCNAME\tcccctoken3.dkim.amazonses.com.",
      'test.example.com.\t300\tIN\tTXT\t"v=spf1 include:amazonses.com ~all"',
      '_dmarc.test.example.com.\t300\tIN\tTXT\t"v=DMARC1; p=none; rua=mailto:postmaster@test.example.com"',
    ]);
    // Every optional record is preceded by a comment saying so.
    const spf = result.stdout.findIndex((line) => line.includes("v=spf1"));
    expect(result.stdout[spf - 1]).toMatch(/^; spf \(suggestion; a domain has one SPF record/);
  });

  it("gives the records as data with --json", async () => {
    const result = await cli("dns", "--stack", "test", "--json");
    const records = result.jsonValues[0] as Array<Record<string, unknown>>;
    expect(records.filter((r) => r.required).map((r) => `${r.type} ${r.name}`)).toEqual([
      "MX test.example.com",
      "CNAME aaaatoken1._domainkey.test.example.com",
      "CNAME bbbbtoken2._domainkey.test.example.com",
      "CNAME cccctoken3._domainkey.test.example.com",
    ]);
  });

  it("warns when the region does not receive mail and when a domain is not yet an identity", async () => {
    const file = path.join(dir, "Pulumi.west.yaml");
    fs.writeFileSync(file, "config:\n  aws:region: us-west-1\n  ses-mail:domains:\n    - test.example.com\n    - other.example.org\n");
    const result = await cli("dns", "--stack", "west", "--config", file);
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([
      expect.stringMatching(
        /^warning: SES does not receive mail in us-west-1 \(regions that do: .*eu-west-2.*\); an MX to us-west-1 gets no mail/,
      ),
      "warning: other.example.org is not an SES identity in us-west-1, so it has no DKIM records yet: deploy the stack (pulumi up) and run this again",
    ]);
    const other = result.stdout.filter((line) => line.includes("other.example.org") && !line.startsWith("SES"));
    expect(other.map((line) => line.split(/\s{2,}/)[1])).toEqual(["MX", "TXT", "TXT"]);
  });

  it.each([
    [
      ["dns", "--stack", "test", "--domain", "nope.example.com"],
      /nope.example.com is not a domain of stack test \(its domains: test.example.com\)/,
    ],
    [["dns", "--stack", "test", "--zone", "--json"], /give --zone or --json, not both/],
    [["dns", "--stack", "test", "--zone", "--ttl", "5"], /--ttl must be a whole number of seconds from 60/],
    [["dns"], /say which stack/],
  ])("%j is a user error", async (argv, reason) => {
    const result = await cli(...argv);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(reason);
  });

  it("explains a missing permission, and prints the records the config gives meanwhile", async () => {
    ses
      .on(GetIdentityDkimAttributesCommand)
      .rejects(Object.assign(new Error("not authorized to perform: ses:GetIdentityDkimAttributes"), { name: "AccessDenied" }));
    const result = await cli("dns", "--stack", "test");
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toMatch(/^note: not asking AWS \(AWS denied access to the SES identities \(AccessDenied/);
  });

  it("without AWS credentials prints the MX, SPF and DMARC records, and says the DKIM ones need the deployed stack", async () => {
    // Prepare: what the SDK raises when no credentials can be found.
    const missing = Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
    ses.on(GetIdentityVerificationAttributesCommand).rejects(missing);
    ses.on(GetIdentityDkimAttributesCommand).rejects(missing);

    // Act
    const table = await cli("dns", "--stack", "test");
    const zone = await cli("dns", "--stack", "test", "--zone");

    // Assess
    expect(table.code).toBe(0);
    expect(table.stdout.map((line) => line.split(/\s{2,}/))).toEqual([
      ["NAME", "TYPE", "VALUE", "PURPOSE", "SES STATUS"],
      ["test.example.com", "MX", "10 inbound-smtp.eu-west-2.amazonaws.com", "receive"],
      ["test.example.com", "TXT", "v=spf1 include:amazonses.com ~all", "spf (suggested)"],
      ["_dmarc.test.example.com", "TXT", "v=DMARC1; p=none; rua=mailto:postmaster@test.example.com", "dmarc (suggested)"],
      ["+ 3 DKIM CNAMEs per domain (<token>._domainkey.<domain> → <token>.dkim.amazonses.com): they need the deployed stack"],
    ]);
    expect(table.stderr).toEqual([
      expect.stringMatching(
        /^note: not asking AWS \(no AWS credentials: set AWS_PROFILE.*\): these are the records the stack config gives\. The 3 DKIM CNAMEs of each domain come from SES once the stack is deployed \(pulumi up\): run `ses-mail dns --stack test` with AWS credentials/,
      ),
    ]);
    expect(zone.stdout).toContain(
      "; Without the DKIM CNAMEs: they need the deployed stack (ses-mail dns --stack test with AWS credentials).",
    );
    expect(zone.stdout.filter((line) => line.includes("\tIN\t")).map((line) => line.split("\t")[3])).toEqual(["MX", "TXT", "TXT"]);
  });

  it("--offline asks AWS nothing", async () => {
    const result = await cli("dns", "--stack", "test", "--offline", "--json");
    expect(result.code).toBe(0);
    expect(ses.commandCalls(GetIdentityDkimAttributesCommand)).toHaveLength(0);
    expect((result.jsonValues[0] as Array<{ type: string }>).map((record) => record.type)).toEqual(["MX", "TXT", "TXT"]);
  });
});

describe("DNS record helpers", () => {
  it("knows which regions receive mail", () => {
    expect(receivesMail("eu-west-1")).toBe(true);
    expect(receivesMail("eu-south-1")).toBe(false);
    expect(receivesMail("toString")).toBe(false);
  });

  it("quotes and splits TXT values as RFC 1035 character-strings", () => {
    expect(quoteTxt('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    const long = "x".repeat(300);
    expect(quoteTxt(long)).toBe(`"${"x".repeat(255)}" "${"x".repeat(45)}"`);
  });

  it("has no DKIM or legacy TXT records for a domain SES does not know", () => {
    const records = domainRecords("example.net", "eu-west-1", undefined);
    expect(records.map((r) => r.purpose)).toEqual(["receive", "spf", "dmarc"]);
    expect(zoneLine(records[0]!, 3600)).toBe("example.net.\t3600\tIN\tMX\t10 inbound-smtp.eu-west-1.amazonaws.com.");
  });
});
