import { createHmac } from "node:crypto";
import fc from "fast-check";
import { smtpPasswordFromSecretKey } from "../../core/smtp-password";

/**
 * Vectors: the published test table of terraform-provider-aws (internal/service/iam/access_key_test.go,
 * TestSESSMTPPasswordFromSecretKeySigV4), an implementation whose passwords authenticate against SES.
 */
const VECTORS = [
  ["eu-central-1", "some+secret+key", "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"],
  ["eu-central-1", "another+secret+key", "BBbphbrQmrKMx42d1N6+C7VINYEBGI5v9VsZeTxwskfh"],
  ["us-west-1", "some+secret+key", "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj"],
  ["us-west-1", "another+secret+key", "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF"],
] as const;

/** AWS's documented algorithm, step by step, as a second reading of the same pseudocode. */
function documented(secret: string, region: string): string {
  const sign = (key: Buffer, message: string) => createHmac("sha256", key).update(message).digest();
  const kDate = sign(Buffer.from(`AWS4${secret}`), "11111111");
  const kRegion = sign(kDate, region);
  const kService = sign(kRegion, "ses");
  const kTerminal = sign(kService, "aws4_request");
  const kMessage = sign(kTerminal, "SendRawEmail");
  return Buffer.concat([Buffer.from([0x04]), kMessage]).toString("base64");
}

describe("SES SMTP password (SigV4)", () => {
  it.each(VECTORS)("%s / %s → %s", (region, secret, expected) => {
    expect(smtpPasswordFromSecretKey(secret, region)).toBe(expected);
  });

  it("follows the documented algorithm for any key and region: 33 bytes, version 4 first", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.constantFrom("eu-west-2", "us-east-1", "ap-southeast-2"),
        (secret, region) => {
          const password = smtpPasswordFromSecretKey(secret, region);
          expect(password).toBe(documented(secret, region));
          const bytes = Buffer.from(password, "base64");
          expect(bytes).toHaveLength(33);
          expect(bytes[0]).toBe(4);
        },
      ),
    );
  });

  it("differs per region, because the password only works at that region's endpoint", () => {
    expect(smtpPasswordFromSecretKey("k", "eu-west-1")).not.toBe(smtpPasswordFromSecretKey("k", "eu-west-2"));
  });

  it("refuses an empty key or a region that is not one", () => {
    expect(() => smtpPasswordFromSecretKey("", "eu-west-2")).toThrow(/secret access key/);
    expect(() => smtpPasswordFromSecretKey("k", "EU West")).toThrow(/not an AWS region/);
  });
});
