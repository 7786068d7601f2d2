/**
 * The STARTTLS certificate of local mode: an ECDSA P-256 key from node:crypto and a self-signed X.509 v3
 * certificate built here (Node can parse certificates but not make them, and nothing installed that
 * could is a declared dependency). smtp-server's built-in test certificate was not an option: its private
 * key is public, so anyone could read "encrypted" sessions. Kept in `DATA_DIR/tls/` and reused until it
 * is close to expiry, so a client that pinned it keeps working across restarts.
 *
 * The DER encoder below covers exactly what a certificate needs (RFC 5280): SEQUENCE, SET, INTEGER,
 * OBJECT IDENTIFIER, UTF8String, UTCTime/GeneralizedTime, BIT STRING, OCTET STRING, BOOLEAN and
 * context-specific tags.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import { isIP } from "node:net";
import * as path from "node:path";
import { writeFileDurably } from "../adapters/local/durable-file";
import { SELF_SIGNED_RENEW_BEFORE_DAYS, SELF_SIGNED_VALIDITY_DAYS } from "./limits";

const DAY_MS = 24 * 60 * 60 * 1000;

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const sequence = (...items: Buffer[]) => der(0x30, ...items);
const set = (...items: Buffer[]) => der(0x31, ...items);
const utf8 = (text: string) => der(0x0c, Buffer.from(text, "utf8"));
const octets = (bytes: Buffer) => der(0x04, bytes);
const bitString = (bytes: Buffer) => der(0x03, Buffer.from([0]), bytes);
const boolean = (value: boolean) => der(0x01, Buffer.from([value ? 0xff : 0]));
const explicit = (tagNumber: number, inner: Buffer) => der(0xa0 | tagNumber, inner);

function integer(bytes: Buffer): Buffer {
  let value = bytes;
  while (value.length > 1 && value[0] === 0 && value[1]! < 0x80) value = value.subarray(1);
  // A leading 1 bit would make the integer negative.
  if (value[0]! >= 0x80) value = Buffer.concat([Buffer.from([0]), value]);
  return der(0x02, value);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest & 0x7f));
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${iso.slice(2)}Z`)) : der(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split(".").map(Number));
  const [head = "", tail = ""] = address.split("::");
  const groups = (part: string) => (part ? part.split(":") : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(address.includes("::") ? missing : 0).fill("0"), ...groups(tail)];
  return Buffer.from(all.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]));
}

const OID = {
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

export interface SelfSignedOptions {
  /** Subject common name. */
  readonly commonName: string;
  /** DNS names and IP addresses the certificate is valid for. */
  readonly altNames: readonly string[];
  readonly now?: Date;
  readonly validityDays?: number;
}

/** Builds a self-signed TLS server certificate; returns the PEM key and certificate. */
export function createSelfSignedCertificate(options: SelfSignedOptions): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000); // an hour of grace for clock skew
  const notAfter = new Date(now.getTime() + (options.validityDays ?? SELF_SIGNED_VALIDITY_DAYS) * DAY_MS);
  const name = sequence(set(sequence(oid(OID.commonName), utf8(options.commonName))));
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const altNames = options.altNames.map((entry) => (isIP(entry) ? der(0x87, ipBytes(entry)) : der(0x82, Buffer.from(entry, "ascii"))));
  const extensions = explicit(
    3,
    sequence(
      sequence(oid(OID.basicConstraints), boolean(true), octets(sequence())),
      // digitalSignature (bit 0): what an ECDHE handshake signs with.
      sequence(oid(OID.keyUsage), boolean(true), octets(der(0x03, Buffer.from([7, 0x80])))),
      sequence(oid(OID.extendedKeyUsage), octets(sequence(oid(OID.serverAuth)))),
      sequence(oid(OID.subjectAltName), octets(sequence(...altNames))),
    ),
  );
  const spki = publicKey.export({ type: "spki", format: "der" });
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    extensions,
  );
  const signature = sign("sha256", tbs, privateKey); // DER-encoded ECDSA-Sig-Value
  const certificate = sequence(tbs, algorithm, bitString(signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${certificate.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert: pem };
}

function usable(cert: string, key: string, altNames: readonly string[], now: Date): boolean {
  try {
    const x509 = new X509Certificate(cert);
    const privateKey: KeyObject = createPrivateKey(key);
    const remainingMs = new Date(x509.validTo).getTime() - now.getTime();
    const covers = altNames.every((entry) => (isIP(entry) ? x509.checkIP(entry) : x509.checkHost(entry)) !== undefined);
    return remainingMs > SELF_SIGNED_RENEW_BEFORE_DAYS * DAY_MS && covers && x509.checkPrivateKey(privateKey) && x509.verify(createPublicKey(privateKey));
  } catch {
    return false;
  }
}

/**
 * The certificate in `dir` (`key.pem`, `cert.pem`), made or replaced when it is missing, unreadable,
 * close to expiry or does not cover `altNames`. Returns whether a new one was made.
 */
export async function ensureCertificate(dir: string, options: SelfSignedOptions): Promise<{ key: string; cert: string; created: boolean }> {
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  const now = options.now ?? new Date();
  try {
    const [key, cert] = await Promise.all([fs.promises.readFile(keyFile, "utf8"), fs.promises.readFile(certFile, "utf8")]);
    if (usable(cert, key, options.altNames, now)) return { key, cert, created: false };
  } catch {
    // none yet
  }
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  const made = createSelfSignedCertificate(options);
  await writeFileDurably(keyFile, [Buffer.from(made.key)], { mode: 0o600 });
  await writeFileDurably(certFile, [Buffer.from(made.cert)], { mode: 0o644 });
  return { ...made, created: true };
}
