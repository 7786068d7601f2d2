import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { dkimSign } from "mailauth";
import { authenticateMessage, dkimVerdict, dmarcVerdict, spfVerdict } from "../../local/authentication";
import { loadResolverFile, ResolverFileError, zoneResolver, type DnsResolver } from "../../local/resolver";

const PLAIN = fs.readFileSync(path.join(__dirname, "../fixtures/local/plain.eml"));

/** sender.example allows 127.0.0.1 to send and asks receivers to quarantine what fails DMARC. */
const ZONE = {
  "sender.example": { TXT: [["v=spf1 ip4:127.0.0.1 -all"]] },
  "_dmarc.sender.example": { TXT: [["v=DMARC1; p=quarantine"]] },
};

function input(overrides: Partial<Parameters<typeof authenticateMessage>[1]> = {}) {
  return {
    ip: "127.0.0.1",
    helo: "mail.sender.example",
    sender: "alice@sender.example",
    mta: "mx.test",
    resolver: zoneResolver(ZONE),
    ...overrides,
  };
}

describe("verdict mapping (mailauth → SES)", () => {
  it.each([
    ["pass", "PASS"],
    ["fail", "FAIL"],
    ["softfail", "FAIL"],
    ["neutral", "GRAY"],
    ["none", "GRAY"],
    ["temperror", "PROCESSING_FAILED"],
    ["permerror", "PROCESSING_FAILED"],
  ])("SPF %s → %s", (result, verdict) => {
    // Act / Assess
    expect(spfVerdict(result)).toBe(verdict);
  });

  it.each<[string[], string]>([
    [["fail", "pass"], "PASS"],
    [["neutral"], "FAIL"],
    [["policy"], "FAIL"],
    [["permerror"], "FAIL"],
    [["temperror", "fail"], "PROCESSING_FAILED"],
    [["none"], "GRAY"],
    [[], "GRAY"],
  ])("DKIM %j → %s", (results, verdict) => {
    // Act / Assess
    expect(dkimVerdict(results)).toBe(verdict);
  });

  it.each([
    ["pass", undefined, { dmarc: "PASS" }],
    ["fail", "reject", { dmarc: "FAIL", dmarcPolicy: "reject" }],
    ["fail", "QUARANTINE", { dmarc: "FAIL", dmarcPolicy: "quarantine" }],
    ["none", undefined, { dmarc: "GRAY" }],
    ["temperror", undefined, { dmarc: "PROCESSING_FAILED" }],
  ])("DMARC %s (policy %s)", (result, policy, expected) => {
    // Act / Assess
    expect(dmarcVerdict(result, policy)).toEqual(expected);
  });
});

describe("authenticateMessage", () => {
  it("passes SPF and DMARC for an allowed client, and writes an Authentication-Results header", async () => {
    // Act
    const result = await authenticateMessage(PLAIN, input());

    // Assess
    expect(result.verdicts).toEqual({ spf: "PASS", dkim: "GRAY", dmarc: "PASS" });
    expect(result.header).toMatch(/^Authentication-Results: mx\.test;\r\n spf=pass .*;\r\n dkim=none .*;\r\n dmarc=pass .*\r\n$/s);
  });

  it("fails SPF and DMARC (with the sender's policy) for a client the domain does not allow", async () => {
    // Act
    const result = await authenticateMessage(PLAIN, input({ ip: "192.0.2.7" }));

    // Assess
    expect(result.verdicts).toEqual({ spf: "FAIL", dkim: "GRAY", dmarc: "FAIL", dmarcPolicy: "quarantine" });
  });

  it("verifies a DKIM signature against the key in the zone, and fails it once the body is altered", async () => {
    // Prepare
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const selector = "s1";
    const zone = {
      ...ZONE,
      [`${selector}._domainkey.sender.example`]: {
        TXT: [[`v=DKIM1; k=rsa; p=${publicKey.export({ type: "spki", format: "der" }).toString("base64")}`]],
      },
    };
    // mailauth 7.1 signs with `signatureData` at run time; its typings still require the flat form it ignores.
    const signOptions = {
      signatureData: [
        { signingDomain: "sender.example", selector, privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString() },
      ],
    };
    const signed = await dkimSign(PLAIN, signOptions as unknown as Parameters<typeof dkimSign>[1]);
    const message = Buffer.concat([Buffer.from(signed.signatures), PLAIN]);
    const tampered = Buffer.from(message.toString("latin1").replace("Hello Bob", "Hello Eve"), "latin1");

    // Act
    const good = await authenticateMessage(message, input({ ip: "192.0.2.7", resolver: zoneResolver(zone) }));
    const bad = await authenticateMessage(tampered, input({ ip: "192.0.2.7", resolver: zoneResolver(zone) }));

    // Assess: DKIM alone aligns with the From domain, so DMARC passes without SPF.
    expect(good.verdicts).toEqual({ spf: "FAIL", dkim: "PASS", dmarc: "PASS" });
    expect(bad.verdicts.dkim).toBe("FAIL");
  });

  it("reads a message from a stream as well as from bytes", async () => {
    // Act
    const result = await authenticateMessage(Readable.from([PLAIN.subarray(0, 50), PLAIN.subarray(50)]), input());

    // Assess
    expect(result.verdicts.spf).toBe("PASS");
  });

  it("turns DNS failures into PROCESSING_FAILED, never an exception", async () => {
    // Prepare: a resolver as on a machine without DNS.
    const broken: DnsResolver = async (name) => {
      throw Object.assign(new Error(`queryTxt ECONNREFUSED ${name}`), { code: "ECONNREFUSED" });
    };

    // Act
    const result = await authenticateMessage(PLAIN, input({ resolver: broken }));

    // Assess
    expect(result.verdicts.spf).toBe("PROCESSING_FAILED");
    expect(result.verdicts.dmarc).toBe("PROCESSING_FAILED");
  });

  it("gives up at the deadline with PROCESSING_FAILED when DNS never answers", async () => {
    // Prepare
    const hanging: DnsResolver = () => new Promise(() => undefined);

    // Act
    const result = await authenticateMessage(PLAIN, input({ resolver: hanging, deadlineMs: 50 }));

    // Assess
    expect(result.verdicts).toEqual({ spf: "PROCESSING_FAILED", dkim: "PROCESSING_FAILED", dmarc: "PROCESSING_FAILED" });
    expect(result.header).toContain("spf=temperror");
  });

  it("keeps client-chosen text from breaking the header", async () => {
    // Act
    const result = await authenticateMessage(PLAIN, input({ helo: "evil\r\nX-Injected: yes" }));

    // Assess
    expect(result.header.split("\r\n").filter((line) => line.startsWith("X-Injected"))).toEqual([]);
  });
});

describe("hermetic resolver file", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-resolver-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function file(value: unknown): string {
    const name = path.join(dir, "zone.json");
    fs.writeFileSync(name, typeof value === "string" ? value : JSON.stringify(value));
    return name;
  }

  it("answers what the file holds (case-insensitive, root dot ignored) and NXDOMAIN for everything else", async () => {
    // Prepare
    const resolve = loadResolverFile(
      file({ "Sender.Example": { TXT: [["v=spf1 ", "-all"]], MX: [{ exchange: "mx.sender.example", priority: 10 }] } }),
    );

    // Act / Assess
    await expect(resolve("sender.example.", "TXT")).resolves.toEqual([["v=spf1 ", "-all"]]);
    await expect(resolve("sender.example", "MX")).resolves.toEqual([{ exchange: "mx.sender.example", priority: 10 }]);
    await expect(resolve("sender.example", "A")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(resolve("other.example", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it.each([
    ["a TXT record given as a plain string", { "x.example": { TXT: ["v=spf1 -all"] } }, /TXT/],
    ["an unknown record type", { "x.example": { SRV: [] } }, /SRV|Unrecognized/i],
    ["an A record that is not an address", { "x.example": { A: ["not-an-ip"] } }, /A/],
    ["a file that is not JSON", "{ nope", /zone\.json/],
  ])("refuses %s, naming the problem", (_name, content, message) => {
    // Act / Assess
    expect(() => loadResolverFile(file(content))).toThrow(ResolverFileError);
    expect(() => loadResolverFile(file(content))).toThrow(message);
  });
});
