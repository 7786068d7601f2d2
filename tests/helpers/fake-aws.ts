/**
 * The few AWS APIs the delivery Lambdas call, on one local HTTP endpoint, for running serialized
 * archives in a fresh Node process (point AWS_ENDPOINT_URL_<SERVICE> at `endpoint`):
 * S3 GetObject/DeleteObject (path style, which the SDK uses for an IP endpoint), SSM GetParameter and
 * KMS Encrypt (JSON protocol), SQS SendMessage (JSON protocol), SES SendRawEmail and IAM user calls
 * (query protocol, XML). DynamoDB is dynalite, separately. Every call is recorded.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeAws {
  readonly endpoint: string;
  /** `bucket/key` → bytes. */
  readonly objects: Map<string, Buffer>;
  readonly parameters: Map<string, string>;
  /** Every call as `Service.Action`, in order. */
  readonly calls: string[];
  readonly sentMessages: Array<{ queueUrl: string; body: string; delaySeconds?: number }>;
  readonly sentEmails: Array<{ source: string; destinations: string[]; raw: Buffer }>;
  readonly iamUsers: Map<string, { policies: Map<string, string>; keys: string[]; permissionsBoundary?: string }>;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function xml(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/xml", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function queryError(res: ServerResponse, code: string, message: string): void {
  xml(
    res,
    400,
    `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
  );
}

export async function startFakeAws(): Promise<FakeAws> {
  const objects = new Map<string, Buffer>();
  const parameters = new Map<string, string>();
  const calls: string[] = [];
  const sentMessages: FakeAws["sentMessages"] = [];
  const sentEmails: FakeAws["sentEmails"] = [];
  const iamUsers: FakeAws["iamUsers"] = new Map();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers["x-amz-target"] ?? "");
    const payload = await body(req);
    if (target.startsWith("AmazonSSM.")) {
      calls.push(`SSM.${target.slice(10)}`);
      const { Name } = JSON.parse(payload.toString("utf8")) as { Name: string };
      const value = parameters.get(Name);
      if (value === undefined) return json(res, 400, { __type: "ParameterNotFound", message: `${Name} not found` });
      return json(res, 200, { Parameter: { Name, Type: "SecureString", Value: value, Version: 1 } });
    }
    if (target.startsWith("AmazonSQS.")) {
      calls.push(`SQS.${target.slice(10)}`);
      const input = JSON.parse(payload.toString("utf8")) as { QueueUrl: string; MessageBody: string; DelaySeconds?: number };
      sentMessages.push({
        queueUrl: input.QueueUrl,
        body: input.MessageBody,
        ...(input.DelaySeconds !== undefined ? { delaySeconds: input.DelaySeconds } : {}),
      });
      return json(res, 200, {
        MessageId: randomBytes(8).toString("hex"),
        MD5OfMessageBody: createHash("md5").update(input.MessageBody).digest("hex"),
      });
    }
    if (target.startsWith("TrentService.")) {
      calls.push(`KMS.${target.slice(13)}`);
      const input = JSON.parse(payload.toString("utf8")) as {
        KeyId: string;
        Plaintext: string;
        EncryptionContext?: Record<string, string>;
      };
      const blob = Buffer.from(JSON.stringify({ key: input.KeyId, context: input.EncryptionContext, plaintext: input.Plaintext })).toString(
        "base64",
      );
      return json(res, 200, { CiphertextBlob: blob, KeyId: input.KeyId });
    }
    const contentType = String(req.headers["content-type"] ?? "");
    if (req.method === "POST" && contentType.startsWith("application/x-www-form-urlencoded")) {
      const form = new URLSearchParams(payload.toString("utf8"));
      const action = form.get("Action") ?? "";
      if (action === "SendRawEmail") {
        calls.push("SES.SendRawEmail");
        const destinations = [...form.entries()].filter(([name]) => name.startsWith("Destinations.member.")).map(([, value]) => value);
        sentEmails.push({ source: form.get("Source") ?? "", destinations, raw: Buffer.from(form.get("RawMessage.Data") ?? "", "base64") });
        return xml(
          res,
          200,
          `<SendRawEmailResponse><SendRawEmailResult><MessageId>0102-fake-${sentEmails.length}</MessageId></SendRawEmailResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></SendRawEmailResponse>`,
        );
      }
      calls.push(`IAM.${action}`);
      const userName = form.get("UserName") ?? "";
      const user = iamUsers.get(userName);
      const wrap = (inner: string) =>
        `<${action}Response><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></${action}Response>`;
      switch (action) {
        case "CreateUser":
          if (user) return queryError(res, "EntityAlreadyExists", `User ${userName} already exists.`);
          iamUsers.set(userName, {
            policies: new Map(),
            keys: [],
            ...(form.get("PermissionsBoundary") ? { permissionsBoundary: form.get("PermissionsBoundary")! } : {}),
          });
          return xml(
            res,
            200,
            wrap(
              `<User><UserName>${userName}</UserName><Arn>arn:aws:iam::123456789012:user/${userName}</Arn><UserId>AIDAFAKE</UserId><Path>/</Path><CreateDate>2026-11-28T10:00:00Z</CreateDate></User>`,
            ),
          );
        case "GetUser":
          if (!user) return queryError(res, "NoSuchEntity", `The user with name ${userName} cannot be found.`);
          return xml(
            res,
            200,
            wrap(
              `<User><UserName>${userName}</UserName><Arn>arn:aws:iam::123456789012:user/${userName}</Arn><UserId>AIDAFAKE</UserId><Path>/</Path><CreateDate>2026-11-28T10:00:00Z</CreateDate></User>`,
            ),
          );
        case "PutUserPolicy":
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          user.policies.set(form.get("PolicyName") ?? "", form.get("PolicyDocument") ?? "");
          return xml(res, 200, wrap(""));
        case "CreateAccessKey": {
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          const id = `AKIA${randomBytes(8).toString("hex").toUpperCase()}`;
          user.keys.push(id);
          return xml(
            res,
            200,
            wrap(
              `<AccessKey><UserName>${userName}</UserName><AccessKeyId>${id}</AccessKeyId><Status>Active</Status><SecretAccessKey>${randomBytes(20).toString("base64")}</SecretAccessKey><CreateDate>2026-11-28T10:00:00Z</CreateDate></AccessKey>`,
            ),
          );
        }
        case "ListAccessKeys":
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          return xml(
            res,
            200,
            wrap(
              `<AccessKeyMetadata>${user.keys.map((id) => `<member><UserName>${userName}</UserName><AccessKeyId>${id}</AccessKeyId><Status>Active</Status></member>`).join("")}</AccessKeyMetadata><IsTruncated>false</IsTruncated>`,
            ),
          );
        case "DeleteAccessKey":
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          user.keys = user.keys.filter((id) => id !== form.get("AccessKeyId"));
          return xml(res, 200, wrap(""));
        case "ListUserPolicies":
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          return xml(
            res,
            200,
            wrap(
              `<PolicyNames>${[...user.policies.keys()].map((name) => `<member>${name}</member>`).join("")}</PolicyNames><IsTruncated>false</IsTruncated>`,
            ),
          );
        case "DeleteUserPolicy":
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          user.policies.delete(form.get("PolicyName") ?? "");
          return xml(res, 200, wrap(""));
        case "DeleteUser":
          if (!user) return queryError(res, "NoSuchEntity", "no user");
          iamUsers.delete(userName);
          return xml(res, 200, wrap(""));
        default:
          return queryError(res, "InvalidAction", `fake AWS does not know ${action}`);
      }
    }
    // S3, path style: /bucket/key
    const url = new URL(req.url ?? "/", "http://local");
    const [, bucket, ...keyParts] = url.pathname.split("/");
    const id = `${bucket}/${decodeURIComponent(keyParts.join("/"))}`;
    if (req.method === "GET") {
      calls.push("S3.GetObject");
      const object = objects.get(id);
      if (!object) return xml(res, 404, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>");
      res.writeHead(200, { "content-type": "message/rfc822", "content-length": object.length });
      res.end(object);
      return;
    }
    if (req.method === "DELETE") {
      calls.push("S3.DeleteObject");
      objects.delete(id);
      res.writeHead(204);
      res.end();
      return;
    }
    xml(res, 400, "<Error><Code>NotImplemented</Code></Error>");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) xml(res, 500, `<Error><Code>InternalError</Code><Message>${String(error)}</Message></Error>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    parameters,
    calls,
    sentMessages,
    sentEmails,
    iamUsers,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
