import { DeleteTableCommand, QueryCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { GetUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { DecryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDbSmtpUsers } from "../../adapters/aws/smtp-identities";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { runCli } from "../../cli/framework";
import { smtpUserCommands } from "../../cli/smtp-users";
import type { CredentialEncryptor, SmtpIdentities } from "../../core/ports";
import { smtpPasswordFromSecretKey } from "../../core/smtp-password";
import { routingTableName } from "../../core/table";
import { createCredentialManager } from "../../handlers/credential-manager";
import { createObservability } from "../../handlers/observability";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { captureOutput } from "../helpers/cli";

const REGION = "eu-west-2";
const TABLE = routingTableName("test");
const BOUNDARY = "arn:aws:iam::123456789012:policy/ses-mail-smtp-user-boundary-test";

/** IAM as the credential manager sees it, in memory. */
function memoryIdentities() {
  const users = new Map<string, { policies: Map<string, string>; keys: Map<string, string>; boundary?: string }>();
  let counter = 0;
  const identities: SmtpIdentities & { users: typeof users; failCreateAccessKey?: string } = {
    users,
    async createUser(name, boundary) {
      const existed = users.has(name);
      if (!existed) users.set(name, { policies: new Map(), keys: new Map(), boundary });
      return { arn: `arn:aws:iam::123456789012:user/${name}`, existed };
    },
    async putPermissionsBoundary(name, boundary) {
      users.get(name)!.boundary = boundary;
    },
    async getUserPolicy(name, policy) {
      return users.get(name)?.policies.get(policy);
    },
    async putUserPolicy(name, policy, document) {
      users.get(name)!.policies.set(policy, document);
    },
    async deleteUserPolicy(name, policy) {
      users.get(name)?.policies.delete(policy);
    },
    async listUserPolicies(name) {
      return [...(users.get(name)?.policies.keys() ?? [])];
    },
    async createAccessKey(name) {
      if (identities.failCreateAccessKey)
        throw Object.assign(new Error(identities.failCreateAccessKey), { name: "LimitExceededException" });
      const accessKeyId = `AKIATEST${String(++counter).padStart(8, "0")}`;
      const secretAccessKey = `secret/${counter}/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`;
      users.get(name)!.keys.set(accessKeyId, secretAccessKey);
      return { accessKeyId, secretAccessKey };
    },
    async listAccessKeys(name) {
      return [...(users.get(name)?.keys.keys() ?? [])];
    },
    async deleteAccessKey(name, id) {
      users.get(name)?.keys.delete(id);
    },
    async deleteUser(name) {
      users.delete(name);
    },
  };
  return identities;
}

/** "KMS": the ciphertext is the plaintext and context, base64; Decrypt refuses another context. */
const encryptor: CredentialEncryptor = {
  async encrypt(plaintext, context) {
    return Buffer.from(JSON.stringify({ plaintext, context })).toString("base64");
  },
};

/**
 * DynamoDB Streams for dynalite (which has none): polls the SMTP user items through the index and
 * hands every change to the real credential manager as INSERT/MODIFY/REMOVE records.
 */
function streamToManager(dynamo: LocalDynamo, identities: SmtpIdentities) {
  const manage = createCredentialManager({
    users: new DynamoDbSmtpUsers({ tableName: TABLE, client: dynamo.client }),
    identities,
    encryptor,
    sesRegion: REGION,
    permissionsBoundary: BOUNDARY,
    observability: createObservability("credential-manager-test", { quiet: true }),
  });
  let seen = new Map<string, Record<string, unknown>>();
  let running = true;
  const toStream = (value: Record<string, unknown>) => marshall(value, { removeUndefinedValues: true }) as Record<string, AttributeValue>;
  const loop = (async () => {
    while (running) {
      const output = await dynamo.client.send(
        new QueryCommand({
          TableName: TABLE,
          IndexName: "entity_type-index",
          KeyConditionExpression: "entity_type = :t",
          ExpressionAttributeValues: { ":t": { S: "SMTP_USER" } },
        }),
      );
      const now = new Map<string, Record<string, unknown>>(
        (output.Items ?? []).map((raw) => [String(unmarshall(raw).PK), unmarshall(raw)]),
      );
      const records: DynamoDBRecord[] = [];
      for (const [key, item] of now) {
        const before = seen.get(key);
        if (!before || JSON.stringify(before) !== JSON.stringify(item)) {
          records.push({
            eventName: before ? "MODIFY" : "INSERT",
            dynamodb: {
              ApproximateCreationDateTime: Date.now() / 1000,
              Keys: toStream({ PK: item.PK, SK: item.SK }) as never,
              NewImage: toStream(item) as never,
              ...(before ? { OldImage: toStream(before) as never } : {}),
            },
          });
        }
      }
      for (const [key, item] of seen) {
        if (!now.has(key))
          records.push({
            eventName: "REMOVE",
            dynamodb: { Keys: toStream({ PK: item.PK, SK: item.SK }) as never, OldImage: toStream(item) as never },
          });
      }
      seen = now;
      if (records.length > 0) await manage({ Records: records });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

const kms = mockClient(KMSClient);
const iamClient = mockClient(IAMClient);

describe("ses-mail smtp-user against dynalite and the real credential manager", () => {
  let dynamo: LocalDynamo;
  let identities: ReturnType<typeof memoryIdentities>;
  let stream: { stop(): Promise<void> } | undefined;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.close());
  beforeEach(async () => {
    await dynamo.client.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
    await ensureRoutingTable(dynamo.client, TABLE);
    identities = memoryIdentities();
    kms.reset();
    kms.on(DecryptCommand).callsFake((input: { CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> }) => {
      const blob = JSON.parse(Buffer.from(input.CiphertextBlob).toString("utf8")) as { plaintext: string; context: Record<string, string> };
      if (JSON.stringify(blob.context) !== JSON.stringify(input.EncryptionContext))
        throw Object.assign(new Error("context mismatch"), { name: "InvalidCiphertextException" });
      return { Plaintext: Buffer.from(blob.plaintext, "utf8") };
    });
    iamClient.reset();
    iamClient.on(GetUserCommand).callsFake((input: { UserName: string }) => {
      if (!identities.users.has(input.UserName))
        throw Object.assign(new Error(`The user with name ${input.UserName} cannot be found.`), { name: "NoSuchEntityException" });
      return {
        User: {
          UserName: input.UserName,
          Arn: `arn:aws:iam::123456789012:user/${input.UserName}`,
          UserId: "AID",
          Path: "/",
          CreateDate: new Date(),
        },
      };
    });
  });
  afterEach(async () => {
    await stream?.stop();
    stream = undefined;
  });

  async function cli(argv: string[], options: { timeoutMs?: number } = {}) {
    const out = captureOutput();
    const code = await runCli(smtpUserCommands({ pollMs: 20, timeoutMs: options.timeoutMs ?? 5000 }), argv, out, {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    });
    return { code, ...out };
  }

  function secretOf(accessKeyId: string): string {
    for (const user of identities.users.values()) if (user.keys.has(accessKeyId)) return user.keys.get(accessKeyId)!;
    throw new Error(`no key ${accessKeyId}`);
  }

  it("creates a user, waits for the manager, and prints the host, port and the password derived from its key, once", async () => {
    stream = streamToManager(dynamo, identities);

    const result = await cli([
      "smtp-user",
      "create",
      "app",
      "--allow-from",
      "app@test.example.com",
      "--allow-from",
      "*@test.example.com",
      "--stack",
      "test",
    ]);

    expect(result.stderr.join("\n")).not.toMatch(/unexpected/);
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toBe("waiting for the credential manager to provision app (up to 5 s) …");
    const fields = Object.fromEntries(result.stdout.slice(1, 6).map((line) => line.trim().split(/\s{2,}/) as [string, string]));
    expect(fields).toMatchObject({
      host: "email-smtp.eu-west-2.amazonaws.com",
      port: "587 (STARTTLS) or 465 (TLS)",
      "may send as": "app@test.example.com, *@test.example.com",
    });
    expect(fields.username).toMatch(/^AKIATEST/);
    expect(fields.password).toBe(smtpPasswordFromSecretKey(secretOf(fields.username!), REGION));
    expect(result.stdout[0]).toMatch(/^SMTP user app is ready \(IAM user ses-smtp-user-app-\d{14}, stack test \(eu-west-2\)\):$/);
    expect(kms.commandCalls(DecryptCommand)[0]!.args[0].input.EncryptionContext).toEqual({ "ses-mail:smtp-user": "app" });
    const policy = JSON.parse([...identities.users.values()][0]!.policies.get("ses-mail-smtp-send")!);
    expect(policy.Statement[0].Condition).toEqual({ StringLike: { "ses:FromAddress": ["app@test.example.com", "*@test.example.com"] } });
    // The user is created capped by the stack's permissions boundary.
    expect([...identities.users.values()][0]!.boundary).toBe(BOUNDARY);

    const listed = await cli(["smtp-user", "list", "--stack", "test", "--json"]);
    expect(listed.jsonValues[0]).toEqual([
      expect.objectContaining({
        username: "app",
        status: "active",
        accessKeyId: fields.username,
        allowedFrom: ["app@test.example.com", "*@test.example.com"],
      }),
    ]);
    // The list never shows a password.
    expect(JSON.stringify(listed.jsonValues)).not.toContain(fields.password!);
  });

  it("rotates: a new key and password, the old key deleted, optionally a new sender list", async () => {
    stream = streamToManager(dynamo, identities);
    const first = await cli(["smtp-user", "create", "app", "--allow-from", "app@test.example.com", "--stack", "test", "--json"]);
    const before = (first.jsonValues[0] as { smtp: { username: string; password: string } }).smtp;

    const rotated = await cli(["smtp-user", "rotate", "app", "--allow-from", "billing@test.example.com", "--stack", "test", "--json"]);

    expect(rotated.code).toBe(0);
    const after = rotated.jsonValues[0] as { smtp: { username: string; password: string }; allowedFrom: string[] };
    expect(after.smtp.username).not.toBe(before.username);
    expect(after.smtp.password).toBe(smtpPasswordFromSecretKey(secretOf(after.smtp.username), REGION));
    expect(after.allowedFrom).toEqual(["billing@test.example.com"]);
    const user = [...identities.users.values()][0]!;
    expect([...user.keys.keys()]).toEqual([after.smtp.username]);
    expect(user.boundary).toBe(BOUNDARY);
    expect(JSON.parse(user.policies.get("ses-mail-smtp-send")!).Statement[0].Condition.StringLike["ses:FromAddress"]).toEqual([
      "billing@test.example.com",
    ]);
  });

  it("removes a user and waits until its IAM user is gone", async () => {
    stream = streamToManager(dynamo, identities);
    await cli(["smtp-user", "create", "app", "--allow-from", "app@test.example.com", "--stack", "test"]);
    const name = [...identities.users.keys()][0]!;

    const removed = await cli(["smtp-user", "rm", "app", "--stack", "test"]);

    expect(removed.code).toBe(0);
    expect(removed.stdout).toEqual([`removed app and its IAM user ${name}; its SMTP credentials no longer work`]);
    expect(identities.users.size).toBe(0);
    expect((await cli(["smtp-user", "list", "--stack", "test"])).stdout[0]).toMatch(/^no SMTP users in stack test/);
  });

  it("reports the manager's failure with what to do, and a rotate retries it", async () => {
    identities.failCreateAccessKey = "LimitExceeded: cannot exceed quota for AccessKeysPerUser";
    stream = streamToManager(dynamo, identities);

    const failed = await cli(["smtp-user", "create", "app", "--allow-from", "app@test.example.com", "--stack", "test"]);

    expect(failed.code).toBe(1);
    expect(failed.stderr[failed.stderr.length - 1]).toMatch(
      /could not provision app: LimitExceededException: LimitExceeded: cannot exceed quota.*smtp-user rotate app --stack test/,
    );
    expect(identities.users.size).toBe(0); // rolled back
    const listed = await cli(["smtp-user", "list", "--stack", "test"]);
    expect(listed.stdout[1]).toMatch(/^app\s+failed\s+app@test.example.com\s+.*LimitExceeded/);

    delete identities.failCreateAccessKey;
    const retried = await cli(["smtp-user", "rotate", "app", "--stack", "test"]);
    expect(retried.code).toBe(0);
    expect(retried.stdout[0]).toMatch(/^SMTP user app is ready/);
  });

  it("gives up waiting with a message that says what to check and how to get the credentials later", async () => {
    // No stream: the manager never runs.
    const result = await cli(["smtp-user", "create", "app", "--allow-from", "app@test.example.com", "--stack", "test"], { timeoutMs: 100 });
    expect(result.code).toBe(1);
    expect(result.stderr[result.stderr.length - 1]).toMatch(
      /has not provisioned app after 0 s; the item stays pending .*ses-mail status --stack test.*\/aws\/lambda\/ses-mail-credential-manager-test.*smtp-user rotate app/,
    );
  });

  it("explains that the operator needs kms:Decrypt when the key refuses", async () => {
    stream = streamToManager(dynamo, identities);
    kms.on(DecryptCommand).rejects(Object.assign(new Error("not authorized to perform: kms:Decrypt"), { name: "AccessDeniedException" }));
    const result = await cli(["smtp-user", "create", "app", "--allow-from", "app@test.example.com", "--stack", "test"]);
    expect(result.code).toBe(1);
    expect(result.stderr[result.stderr.length - 1]).toMatch(
      /may not decrypt with the SMTP credentials key \(alias\/ses-mail-smtp-credentials-test\): grant it kms:Decrypt/,
    );
  });

  it("refuses a taken name, and rotating or removing one that does not exist", async () => {
    stream = streamToManager(dynamo, identities);
    await cli(["smtp-user", "create", "app", "--allow-from", "app@test.example.com", "--stack", "test"]);
    const again = await cli(["smtp-user", "create", "app", "--allow-from", "x@test.example.com", "--stack", "test"]);
    expect(again.code).toBe(1);
    expect(again.stderr[0]).toMatch(/an SMTP user app already exists: rotate its credentials/);
    for (const verb of ["rotate", "rm"]) {
      const missing = await cli(["smtp-user", verb, "ghost", "--stack", "test"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr[0]).toMatch(/no SMTP user ghost in stack test/);
    }
  });

  it("warns about From addresses outside the stack's domains", async () => {
    stream = streamToManager(dynamo, identities);
    const result = await cli(["smtp-user", "create", "app", "--allow-from", "me@elsewhere.example.org", "--stack", "test"]);
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toBe(
      "warning: me@elsewhere.example.org is not in a domain of stack test (test.example.com); SES sends only as verified identities",
    );
  });

  it.each([
    [["smtp-user", "create", "app", "--stack", "test"], /--allow-from ADDRESS/],
    [["smtp-user", "create", "bad name!", "--allow-from", "a@test.example.com", "--stack", "test"], /may use only letters, digits/],
    [["smtp-user", "create", "x".repeat(36), "--allow-from", "a@test.example.com", "--stack", "test"], /must be 1 to 35 characters/],
    [
      ["smtp-user", "create", "app", "--allow-from", "not an address", "--stack", "test"],
      /allowed_from entry "not an address" is neither an address nor \*@domain/,
    ],
    [["smtp-user", "create", "app", "--allow-from", "a@test.example.com"], /say which stack/],
  ])("%j is a user error", async (argv, reason) => {
    const result = await cli(argv);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(reason);
  });
});
