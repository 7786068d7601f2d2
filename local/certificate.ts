/**
 * The STARTTLS certificate of local mode: a self-signed X.509 v3 server certificate for an RSA 2048 key.
 * node-forge builds the certificate (Node can make keys and check certificates but not issue them);
 * node:crypto makes the key and signs, because forge's RSA in JavaScript takes about half a second on
 * Node 24 and several seconds under jest, against milliseconds natively. node-forge is for local mode
 * only: lambda-function.ts leaves every dependency a function does not list out of its archive.
 * smtp-server's built-in test certificate was not an option: its private key is public, so anyone could
 * read "encrypted" sessions. Kept in `DATA_DIR/tls/` and reused until it is close to expiry, so a
 * client that pinned it keeps working across restarts.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import { isIP } from "node:net";
import * as path from "node:path";
import type * as Forge from "node-forge";
import { writeFileDurably } from "../adapters/local/durable-file";
import { SELF_SIGNED_RENEW_BEFORE_DAYS, SELF_SIGNED_VALIDITY_DAYS } from "./limits";

/**
 * node-forge, loaded when a certificate is made rather than with this module: every start after the
 * first reuses the certificate on disk and needs none of forge's 0.2 s of loading.
 */
function forge(): typeof Forge {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require("node-forge") as typeof Forge;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Valid from an hour before it is made, so a client whose clock is a little behind accepts it. */
const CLOCK_SKEW_GRACE_MS = 60 * 60 * 1000;
/** RSA key size: what every TLS client accepts (forge's certificates carry RSA keys only). */
const RSA_KEY_BITS = 2048;

export interface SelfSignedOptions {
  /** Subject common name. */
  readonly commonName: string;
  /** DNS names and IP addresses the certificate is valid for. */
  readonly altNames: readonly string[];
  readonly now?: Date;
  readonly validityDays?: number;
}

/** Builds a self-signed TLS server certificate; returns the PEM key (PKCS #8) and certificate. */
export function createSelfSignedCertificate(options: SelfSignedOptions): { key: string; cert: string } {
  const { asn1, pki } = forge();
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: RSA_KEY_BITS });
  const now = options.now ?? new Date();
  const certificate = pki.createCertificate();
  certificate.publicKey = pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  // 16 random bytes, the first bit cleared so the serial number stays positive (RFC 5280 §4.1.2.2).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  certificate.serialNumber = serial.toString("hex");
  certificate.validity.notBefore = new Date(now.getTime() - CLOCK_SKEW_GRACE_MS);
  certificate.validity.notAfter = new Date(now.getTime() + (options.validityDays ?? SELF_SIGNED_VALIDITY_DAYS) * DAY_MS);
  const name = [{ name: "commonName", value: options.commonName }];
  certificate.setSubject(name);
  certificate.setIssuer(name);
  certificate.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    // digitalSignature for ECDHE key exchange, keyEncipherment for RSA key transport (older TLS clients).
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: options.altNames.map((entry) => (isIP(entry) ? { type: 7, ip: entry } : { type: 2, value: entry })),
    },
  ]);

  // What forge's certificate.sign() does, with the signature from node:crypto: name the algorithm, take
  // the to-be-signed part as forge encodes it, sign its DER bytes.
  certificate.signatureOid = certificate.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  const [tbs] = pki.certificateToAsn1(certificate).value as Forge.asn1.Asn1[];
  certificate.tbsCertificate = tbs!;
  certificate.signature = sign("sha256", Buffer.from(asn1.toDer(tbs!).getBytes(), "binary"), privateKey).toString("binary");
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert: pki.certificateToPem(certificate) };
}

function usable(cert: string, key: string, altNames: readonly string[], now: Date): boolean {
  try {
    const x509 = new X509Certificate(cert);
    const privateKey: KeyObject = createPrivateKey(key);
    const remainingMs = new Date(x509.validTo).getTime() - now.getTime();
    const covers = altNames.every((entry) => (isIP(entry) ? x509.checkIP(entry) : x509.checkHost(entry)) !== undefined);
    return (
      remainingMs > SELF_SIGNED_RENEW_BEFORE_DAYS * DAY_MS &&
      covers &&
      x509.checkPrivateKey(privateKey) &&
      x509.verify(createPublicKey(privateKey))
    );
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
