import fc from "fast-check";
import { canonicalize, formatLocalPart, parseAddress } from "../../core/addresses";
import { InvalidAddressError } from "../../core/errors";

describe("parseAddress", () => {
  it.each([
    ["user@example.com", { address: "user@example.com", localPart: "user", domain: "example.com", normalized: "user@example.com" }],
    ["User+News@Example.COM", { address: "user+news@example.com", tag: "news", normalized: "user@example.com" }],
    ["<a+b+c@example.com>", { address: "a+b+c@example.com", tag: "b+c", normalized: "a@example.com" }],
    ["  spaced@example.com ", { address: "spaced@example.com" }],
    ["+only@example.com", { address: "+only@example.com", tag: "only", normalized: "+only@example.com" }],
    ["josé@bücher.example", { address: "josé@bücher.example", domain: "bücher.example" }],
  ])("parses %j", (input, expected) => {
    expect(parseAddress(input)).toMatchObject(expected);
  });

  it.each([
    [
      '"john doe"@example.com',
      { address: '"john doe"@example.com', localPart: '"john doe"', domain: "example.com", normalized: '"john doe"@example.com' },
    ],
    ['<"John Doe"@Example.COM>', { address: '"john doe"@example.com' }],
    ['"john"@example.com', { address: "john@example.com", localPart: "john" }],
    ['"a@b"@example.com', { address: '"a@b"@example.com', domain: "example.com" }],
    ['"say \\"hi\\""@example.com', { address: '"say \\"hi\\""@example.com' }],
    ['"back\\\\slash"@example.com', { address: '"back\\\\slash"@example.com' }],
    ['"\\j\\o\\h\\n"@example.com', { address: "john@example.com" }],
    ['"john doe+news"@example.com', { address: '"john doe+news"@example.com', tag: "news", normalized: '"john doe"@example.com' }],
    ['"张 伟"@example.com', { address: '"张 伟"@example.com' }],
  ])("parses the quoted local part of %j (RFC 5321 §4.1.2), quoting only when it must", (input, expected) => {
    expect(parseAddress(input)).toMatchObject(expected);
  });

  it("puts local part and domain in Unicode NFC so composed and decomposed forms match", () => {
    const decomposed = "jose\u0301@example.com";
    expect(parseAddress(decomposed).address).toBe(parseAddress("jos\u00e9@example.com").address);
  });

  it.each([
    ["", /it is empty/],
    ["no-at-sign", /it has no @/],
    ["@example.com", /the local part is empty/],
    ["a@b@example.com", /more than one @/],
    ["user@localhost", /the domain has no dot/],
    ["user@-bad.example", /domain label/],
    ["us er@example.com", /space, control or special/],
    ["user\r\n@example.com", /space, control or special/],
    [`${"x".repeat(65)}@example.com`, /longer than 64 octets/],
    [`user@${"a".repeat(250)}.com`, /longer than/],
    ['"unclosed@example.com', /no closing quote/],
    ['"a"b"@example.com', /quote inside the quoted local part is not escaped/],
    ['"a\\"@example.com', /backslash that escapes nothing/],
    ['"tab\there"@example.com', /control/],
    ['"c1\u0085"@example.com', /control/],
    ['""@example.com', /the local part is empty/],
    [`"${"x".repeat(62)} y"@example.com`, /longer than 64 octets/],
  ])("rejects %j with a typed error naming the address", (input, reason) => {
    let caught: unknown;
    try {
      parseAddress(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidAddressError);
    expect((caught as InvalidAddressError).address).toBe(input);
    expect((caught as Error).message).toMatch(reason);
    expect((caught as InvalidAddressError).code).toBe("INVALID_ADDRESS");
  });

  it("never crashes: any string either parses or throws InvalidAddressError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        try {
          parseAddress(text);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidAddressError);
        }
      }),
    );
  });

  it("reads back any quoted local part it writes, as the same text", () => {
    // Printable ASCII and space, which a quoted local part may hold (qtextSMTP and quoted pairs).
    const text = fc.stringMatching(/^[\x20-\x7e]{1,40}$/).filter((t) => t.trim().length > 0 && !t.includes("+"));
    fc.assert(
      fc.property(text, (localText) => {
        const once = parseAddress(`${formatLocalPart(localText)}@example.com`);
        expect(parseAddress(once.address).address).toBe(once.address);
        expect(once.address).toBe(`${formatLocalPart(localText.toLowerCase())}@example.com`);
      }),
    );
  });

  it("normalization is idempotent", () => {
    const local = fc.stringMatching(/^[a-zA-Z0-9._-]{1,12}(\+[a-zA-Z0-9+._-]{0,8})?$/);
    const domain = fc.stringMatching(/^[a-zA-Z0-9]{1,10}\.(com|org|example)$/);
    fc.assert(
      fc.property(local, domain, (localPart, dom) => {
        const once = parseAddress(`${localPart}@${dom}`);
        const twice = parseAddress(once.normalized);
        expect(twice.normalized).toBe(once.normalized);
        expect(parseAddress(once.address).address).toBe(once.address);
        expect(canonicalize(once.address)).toBe(once.address);
      }),
    );
  });
});
