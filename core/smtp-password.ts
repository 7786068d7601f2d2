/**
 * The SES SMTP password of an IAM access key (AWS: "Obtaining Amazon SES SMTP credentials", the
 * SigV4 variant). An HMAC-SHA256 chain keyed by `AWS4` + the secret access key over the fixed date
 * `11111111`, the region, `ses`, `aws4_request` and the message `SendRawEmail`; the version byte 0x04
 * followed by the last MAC, base64-encoded. The password works only in that region's SMTP endpoint.
 */
import { createHmac } from "node:crypto";

const DATE = "11111111";
const SERVICE = "ses";
const TERMINAL = "aws4_request";
const MESSAGE = "SendRawEmail";
const VERSION = 0x04;

function hmac(key: Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

export function smtpPasswordFromSecretKey(secretAccessKey: string, region: string): string {
  if (!secretAccessKey) throw new Error("an SMTP password needs a secret access key");
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new Error(`not an AWS region: ${JSON.stringify(region)}`);
  let signature = hmac(Buffer.from(`AWS4${secretAccessKey}`, "utf8"), DATE);
  for (const part of [region, SERVICE, TERMINAL, MESSAGE]) signature = hmac(signature, part);
  return Buffer.concat([Buffer.from([VERSION]), signature]).toString("base64");
}
