import { DeleteItemCommand, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  EntityAlreadyExistsException,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  NoSuchEntityException,
  PutUserPermissionsBoundaryCommand,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { marshall } from "@aws-sdk/util-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDbSmtpUsers, IamSmtpIdentities, KmsCredentialEncryptor } from "../../adapters/aws/smtp-identities";
import { smtpPasswordFromSecretKey } from "../../core/smtp-password";
import {
  createCredentialManager,
  credentialManagerEnvironmentVariables,
  readCredentialManagerEnvironment,
} from "../../handlers/credential-manager";
import { createObservability } from "../../handlers/observability";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { smtpUserItem, STREAM_RECORD_CREATED, STREAM_RECORD_STAMP, streamRecord } from "../helpers/factories";

const REGION = "eu-west-2";
const KEY_ID = "arn:aws:kms:eu-west-2:123456789012:alias/ses-mail-smtp-credentials-test";
/** The stack's SMTP user permissions boundary. */
const BOUNDARY = "arn:aws:iam::123456789012:policy/ses-mail-smtp-user-boundary-test";

interface FakeUser {
  arn: string;
  policies: Map<string, string>;
  keys: Map<string, string>;
  boundary?: string;
}

/**
 * A stateful IAM behind aws-sdk-client-mock: the calls are recorded in order, the state can be inspected.
 * It refuses what the manager's role may not do (tests/components/policies.test.ts proves the policy):
 * creating a user or writing its policy without the stack's permissions boundary.
 */
function fakeIam() {
  const client = new IAMClient({ region: REGION });
  const mock = mockClient(client);
  const users = new Map<string, FakeUser>();
  const calls: string[] = [];
  let keyCounter = 0;
  const noSuchEntity = (name: string) =>
    new NoSuchEntityException({ message: `The user with name ${name} cannot be found.`, $metadata: {} });
  const user = (name: string) => {
    const found = users.get(name);
    if (!found) throw noSuchEntity(name);
    return found;
  };
  const record = (name: string) => (input: Record<string, string>) => {
    calls.push(name + (input.AccessKeyId ? `(${input.AccessKeyId})` : ""));
  };
  const accessDenied = (action: string) => Object.assign(new Error(`not authorized to perform: iam:${action}`), { name: "AccessDenied" });
  mock.on(CreateUserCommand).callsFake(async (input) => {
    record("CreateUser")(input);
    if (input.PermissionsBoundary !== BOUNDARY) throw accessDenied("CreateUser");
    if (users.has(input.UserName)) throw new EntityAlreadyExistsException({ message: "exists", $metadata: {} });
    const arn = `arn:aws:iam::123456789012:user/${input.UserName}`;
    users.set(input.UserName, { arn, policies: new Map(), keys: new Map(), boundary: input.PermissionsBoundary });
    return { User: { UserName: input.UserName, Arn: arn, UserId: "AIDA", Path: "/", CreateDate: new Date() } };
  });
  mock.on(GetUserCommand).callsFake(async (input) => {
    record("GetUser")(input);
    return { User: { UserName: input.UserName, Arn: user(input.UserName).arn, UserId: "AIDA", Path: "/", CreateDate: new Date() } };
  });
  mock.on(PutUserPermissionsBoundaryCommand).callsFake(async (input) => {
    record("PutUserPermissionsBoundary")(input);
    if (input.PermissionsBoundary !== BOUNDARY) throw accessDenied("PutUserPermissionsBoundary");
    user(input.UserName).boundary = input.PermissionsBoundary;
    return {};
  });
  mock.on(PutUserPolicyCommand).callsFake(async (input) => {
    record("PutUserPolicy")(input);
    if (user(input.UserName).boundary !== BOUNDARY) throw accessDenied("PutUserPolicy");
    user(input.UserName).policies.set(input.PolicyName, input.PolicyDocument);
    return {};
  });
  mock.on(GetUserPolicyCommand).callsFake(async (input) => {
    record("GetUserPolicy")(input);
    const document = user(input.UserName).policies.get(input.PolicyName);
    if (document === undefined) throw noSuchEntity(input.UserName);
    return { UserName: input.UserName, PolicyName: input.PolicyName, PolicyDocument: encodeURIComponent(document) };
  });
  mock.on(DeleteUserPolicyCommand).callsFake(async (input) => {
    record("DeleteUserPolicy")(input);
    if (!user(input.UserName).policies.delete(input.PolicyName)) throw noSuchEntity(input.UserName);
    return {};
  });
  mock.on(ListUserPoliciesCommand).callsFake(async (input) => {
    record("ListUserPolicies")(input);
    return { PolicyNames: [...user(input.UserName).policies.keys()], IsTruncated: false };
  });
  mock.on(CreateAccessKeyCommand).callsFake(async (input) => {
    record("CreateAccessKey")(input);
    const id = `AKIATEST${String(++keyCounter).padStart(8, "0")}`;
    const secret = `secret/${keyCounter}/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLE`;
    user(input.UserName).keys.set(id, secret);
    return { AccessKey: { UserName: input.UserName, AccessKeyId: id, SecretAccessKey: secret, Status: "Active" } };
  });
  mock.on(ListAccessKeysCommand).callsFake(async (input) => {
    record("ListAccessKeys")(input);
    return {
      AccessKeyMetadata: [...user(input.UserName).keys.keys()].map((id) => ({
        AccessKeyId: id,
        UserName: input.UserName,
        Status: "Active",
      })),
      IsTruncated: false,
    };
  });
  mock.on(DeleteAccessKeyCommand).callsFake(async (input) => {
    record("DeleteAccessKey")(input);
    if (!user(input.UserName).keys.delete(input.AccessKeyId)) throw noSuchEntity(input.UserName);
    return {};
  });
  mock.on(DeleteUserCommand).callsFake(async (input) => {
    record("DeleteUser")(input);
    const found = user(input.UserName);
    if (found.keys.size > 0 || found.policies.size > 0)
      throw Object.assign(new Error("must delete keys and policies first"), { name: "DeleteConflictException" });
    users.delete(input.UserName);
    return {};
  });
  return { client, mock, users, calls };
}

/** KMS whose "ciphertext" is the JSON of what it was asked to encrypt, so the test can read it back. */
function fakeKms() {
  const client = new KMSClient({ region: REGION });
  const mock = mockClient(client);
  mock.on(EncryptCommand).callsFake(async (input) => ({
    KeyId: input.KeyId,
    CiphertextBlob: Buffer.from(
      JSON.stringify({ keyId: input.KeyId, context: input.EncryptionContext, plaintext: Buffer.from(input.Plaintext).toString("utf8") }),
    ),
  }));
  return { client, mock };
}

function decrypt(ciphertext: string) {
  const blob = JSON.parse(Buffer.from(ciphertext, "base64").toString("utf8")) as {
    keyId: string;
    context: Record<string, string>;
    plaintext: string;
  };
  return { ...blob, plaintext: JSON.parse(blob.plaintext) as { access_key_id: string; smtp_password: string } };
}

describe("SMTP credential manager against dynalite and mocked IAM and KMS", () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let iam: ReturnType<typeof fakeIam>;
  let kms: ReturnType<typeof fakeKms>;
  let table: DynamoDbSmtpUsers;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });
  beforeEach(async () => {
    tableName = await dynamo.createRoutingTable();
    table = new DynamoDbSmtpUsers({ tableName, client: dynamo.client });
    iam = fakeIam();
    kms = fakeKms();
  });
  afterEach(() => {
    iam.mock.restore();
    kms.mock.restore();
  });

  async function put(item: Record<string, unknown>): Promise<void> {
    await dynamo.client.send(new PutItemCommand({ TableName: tableName, Item: marshall(item) }));
  }

  function manager() {
    const observability = createObservability("credential-manager-test");
    const manage = createCredentialManager({
      users: table,
      identities: new IamSmtpIdentities({ client: iam.client }),
      encryptor: new KmsCredentialEncryptor({ keyId: KEY_ID, client: kms.client }),
      sesRegion: REGION,
      permissionsBoundary: BOUNDARY,
      observability,
      now: () => new Date("2026-11-28T10:00:03.000Z"),
    });
    return { manage, observability };
  }

  it("provisions a pending user: IAM user, restricted policy, access key, SMTP password encrypted for that user, then active", async () => {
    // Prepare
    const item = smtpUserItem("app");
    await put(item);
    const { manage, observability } = manager();
    const metrics = jest.spyOn(observability.metrics, "addMetric");

    // Act
    const response = await manage({ Records: [streamRecord("INSERT", { newImage: item })] });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const name = `ses-smtp-user-app-${STREAM_RECORD_STAMP}`;
    expect(iam.calls).toEqual(["CreateUser", "PutUserPolicy", "CreateAccessKey"]);
    const user = iam.users.get(name)!;
    expect(user.boundary).toBe(BOUNDARY);
    expect(JSON.parse(user.policies.get("ses-mail-smtp-send")!).Statement[0]).toMatchObject({
      Effect: "Allow",
      Action: ["ses:SendEmail", "ses:SendRawEmail"],
      Condition: { StringLike: { "ses:FromAddress": ["app@example.com", "*@notify.example.com"] } },
    });
    const stored = (await table.get("app"))!;
    expect(user.keys.size).toBe(1);
    const [keyId, secret] = [...user.keys][0]!;
    expect(stored).toMatchObject({
      status: "active",
      iam_user_name: name,
      iam_user_arn: user.arn,
      access_key_id: keyId,
      updated_at: "2026-11-28T10:00:03.000Z",
    });
    const decrypted = decrypt(stored.encrypted_credentials as string);
    expect(decrypted).toEqual({
      keyId: KEY_ID,
      context: { "ses-mail:smtp-user": "app" },
      plaintext: { access_key_id: keyId, smtp_password: smtpPasswordFromSecretKey(secret!, REGION) },
    });
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(metrics).toHaveBeenCalledWith("SmtpUserCreated", "Count", 1);
  });

  it("writes a Deny policy when allowed_from is empty", async () => {
    const item = smtpUserItem("nosend", { allowed_from: [] });
    await put(item);
    await manager().manage({ Records: [streamRecord("INSERT", { newImage: item })] });
    const policy = JSON.parse(iam.users.get(`ses-smtp-user-nosend-${STREAM_RECORD_STAMP}`)!.policies.get("ses-mail-smtp-send")!);
    expect(policy.Statement).toEqual([expect.objectContaining({ Effect: "Deny", Action: ["ses:SendEmail", "ses:SendRawEmail"] })]);
  });

  it.each([
    [
      "KMS Encrypt fails",
      () => kms.mock.on(EncryptCommand).rejects(Object.assign(new Error("key disabled"), { name: "DisabledException" })),
      ["DeleteAccessKey(AKIATEST00000001)", "DeleteUserPolicy", "DeleteUser"],
    ],
    [
      "CreateAccessKey fails",
      () => iam.mock.on(CreateAccessKeyCommand).rejects(Object.assign(new Error("LimitExceeded"), { name: "LimitExceededException" })),
      ["DeleteUserPolicy", "DeleteUser"],
    ],
    [
      "PutUserPolicy fails",
      () =>
        iam.mock
          .on(PutUserPolicyCommand)
          .rejects(Object.assign(new Error("MalformedPolicyDocument"), { name: "MalformedPolicyDocumentException" })),
      ["DeleteUser"],
    ],
  ])("rolls back in reverse order and marks the item failed when %s", async (_name, breakIt, undone) => {
    // Prepare
    const item = smtpUserItem("rollback");
    await put(item);
    breakIt();
    const { manage, observability } = manager();
    const metrics = jest.spyOn(observability.metrics, "addMetric");

    // Act
    const response = await manage({ Records: [streamRecord("INSERT", { newImage: item })] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const firstUndo = iam.calls.findIndex((call) => call.startsWith("Delete"));
    expect(iam.calls.slice(firstUndo)).toEqual(undone);
    expect(iam.users.size).toBe(0);
    const stored = (await table.get("rollback"))!;
    expect(stored.status).toBe("failed");
    expect(stored.error).toEqual(expect.any(String));
    expect(stored.encrypted_credentials).toBeUndefined();
    expect(metrics).toHaveBeenCalledWith("SmtpUserFailed", "Count", 1);
  });

  it.each([
    ["a username too long for IAM", smtpUserItem("a".repeat(36)), /1 to 35 characters/],
    ["a username with a slash", { ...smtpUserItem("x"), PK: "SMTP_USER#bad/name", username: "bad/name" }, /may use only letters/],
    ["allowed_from of *", smtpUserItem("star", { allowed_from: ["*"] }), /neither an address nor \*@domain/],
  ])("marks %s failed without calling IAM", async (_name, item, message) => {
    await put(item);
    await manager().manage({ Records: [streamRecord("INSERT", { newImage: item })] });
    expect(iam.calls).toEqual([]);
    const stored = (await table.get(String(item.PK).slice("SMTP_USER#".length)))!;
    expect(stored).toMatchObject({ status: "failed", error: expect.stringMatching(message) });
  });

  it("never creates a second user when the same record is processed again", async () => {
    const item = smtpUserItem("twice");
    await put(item);
    const record = streamRecord("INSERT", { newImage: item });
    const { manage } = manager();
    await manage({ Records: [record] });
    await manage({ Records: [record] });
    expect(iam.calls.filter((call) => call === "CreateUser")).toHaveLength(1);
    expect(iam.users.size).toBe(1);
  });

  it("after a crash between IAM and DynamoDB, reuses the user the record named and drops the key nobody holds", async () => {
    // Prepare: an earlier attempt of this record created the user and a key, then died
    const item = smtpUserItem("crashed");
    await put(item);
    const name = `ses-smtp-user-crashed-${STREAM_RECORD_STAMP}`;
    iam.users.set(name, {
      arn: `arn:aws:iam::123456789012:user/${name}`,
      policies: new Map(),
      keys: new Map([["AKIAORPHAN", "lost"]]),
      boundary: BOUNDARY,
    });

    // Act
    await manager().manage({ Records: [streamRecord("INSERT", { newImage: item })] });

    // Assess
    expect(iam.users.size).toBe(1);
    expect([...iam.users.get(name)!.keys.keys()]).toEqual(["AKIATEST00000001"]);
    expect(iam.calls).toEqual([
      "CreateUser",
      "GetUser",
      "PutUserPermissionsBoundary",
      "ListAccessKeys",
      "DeleteAccessKey(AKIAORPHAN)",
      "PutUserPolicy",
      "CreateAccessKey",
    ]);
    expect(await table.get("crashed")).toMatchObject({ status: "active", access_key_id: "AKIATEST00000001" });
  });

  it("rotates the key when an active user is set back to pending, deleting the old key only after the new one is stored", async () => {
    // Prepare: provision, then set pending with a new allowed_from
    const item = smtpUserItem("rotate");
    await put(item);
    const { manage } = manager();
    await manage({ Records: [streamRecord("INSERT", { newImage: item })] });
    const active = (await table.get("rotate"))!;
    const pending = { ...active, status: "pending", allowed_from: ["other@example.com"] };
    await put(pending);
    iam.calls.length = 0;
    const updates: string[] = [];
    dynamo.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === UpdateItemCommand.name) updates.push(`UpdateItem after ${iam.calls.length} IAM calls`);
        return next(args);
      },
      { step: "initialize", name: "watchUpdates" },
    );

    // Act
    await manage({ Records: [streamRecord("MODIFY", { newImage: pending, oldImage: active }, STREAM_RECORD_CREATED + 60)] });
    dynamo.client.middlewareStack.remove("watchUpdates");

    // Assess
    const name = active.iam_user_name as string;
    expect(iam.calls).toEqual([
      "ListAccessKeys",
      "PutUserPermissionsBoundary",
      "GetUserPolicy",
      "PutUserPolicy",
      "CreateAccessKey",
      "DeleteAccessKey(AKIATEST00000001)",
    ]);
    expect(updates).toEqual(["UpdateItem after 5 IAM calls"]);
    expect(iam.users.size).toBe(1);
    expect([...iam.users.get(name)!.keys.keys()]).toEqual(["AKIATEST00000002"]);
    expect(
      JSON.parse(iam.users.get(name)!.policies.get("ses-mail-smtp-send")!).Statement[0].Condition.StringLike["ses:FromAddress"],
    ).toEqual(["other@example.com"]);
    const rotated = (await table.get("rotate"))!;
    expect(rotated).toMatchObject({ status: "active", access_key_id: "AKIATEST00000002", iam_user_name: name });
    expect(decrypt(rotated.encrypted_credentials as string).plaintext.access_key_id).toBe("AKIATEST00000002");
  });

  it("gives a user created before boundaries were required the boundary when it rotates, then its new policy", async () => {
    // Prepare: an active user whose IAM user has no boundary (made by an earlier version)
    const name = `ses-smtp-user-legacy-${STREAM_RECORD_STAMP}`;
    iam.users.set(name, {
      arn: `arn:aws:iam::123456789012:user/${name}`,
      policies: new Map([["ses-mail-smtp-send", "{}"]]),
      keys: new Map([["AKIALEGACY", "old"]]),
    });
    const item = smtpUserItem("legacy", {
      status: "pending",
      iam_user_name: name,
      iam_user_arn: `arn:aws:iam::123456789012:user/${name}`,
      access_key_id: "AKIALEGACY",
    });
    await put(item);

    // Act
    await manager().manage({ Records: [streamRecord("MODIFY", { newImage: item })] });

    // Assess: the boundary comes before the policy, which IAM would refuse on a user without it
    expect(iam.calls.slice(0, 4)).toEqual(["ListAccessKeys", "PutUserPermissionsBoundary", "GetUserPolicy", "PutUserPolicy"]);
    expect(iam.users.get(name)!.boundary).toBe(BOUNDARY);
    expect(await table.get("legacy")).toMatchObject({ status: "active", access_key_id: "AKIATEST00000001" });
  });

  it("keeps the old key and restores the old policy when a rotation fails", async () => {
    const item = smtpUserItem("rotfail");
    await put(item);
    const { manage } = manager();
    await manage({ Records: [streamRecord("INSERT", { newImage: item })] });
    const active = (await table.get("rotfail"))!;
    const name = active.iam_user_name as string;
    const oldPolicy = iam.users.get(name)!.policies.get("ses-mail-smtp-send");
    await put({ ...active, status: "pending", allowed_from: ["changed@example.com"] });
    kms.mock.on(EncryptCommand).rejects(Object.assign(new Error("throttled"), { name: "ThrottlingException" }));

    await manage({
      Records: [streamRecord("MODIFY", { newImage: { ...active, status: "pending" }, oldImage: active }, STREAM_RECORD_CREATED + 60)],
    });

    expect([...iam.users.get(name)!.keys.keys()]).toEqual(["AKIATEST00000001"]);
    expect(iam.users.get(name)!.policies.get("ses-mail-smtp-send")).toBe(oldPolicy);
    expect(await table.get("rotfail")).toMatchObject({
      status: "failed",
      access_key_id: "AKIATEST00000001",
      error: expect.stringMatching(/throttled/),
    });
  });

  it("rolls back when the item is deleted while it is being provisioned", async () => {
    const item = smtpUserItem("vanishing");
    await put(item);
    kms.mock.on(EncryptCommand).callsFake(async () => {
      await dynamo.client.send(new DeleteItemCommand({ TableName: tableName, Key: marshall({ PK: item.PK, SK: item.SK }) }));
      return { CiphertextBlob: Buffer.from("x"), KeyId: KEY_ID };
    });
    await manager().manage({ Records: [streamRecord("INSERT", { newImage: item })] });
    expect(iam.users.size).toBe(0);
    expect(await table.get("vanishing")).toBeUndefined();
  });

  it("deletes every key, every inline policy and the user on REMOVE", async () => {
    const item = smtpUserItem("gone");
    await put(item);
    const { manage, observability } = manager();
    await manage({ Records: [streamRecord("INSERT", { newImage: item })] });
    const active = (await table.get("gone"))!;
    iam.users.get(active.iam_user_name as string)!.policies.set("extra-added-by-hand", "{}");
    iam.calls.length = 0;
    const metrics = jest.spyOn(observability.metrics, "addMetric");

    const response = await manage({ Records: [streamRecord("REMOVE", { oldImage: active })] });

    expect(response.batchItemFailures).toEqual([]);
    expect(iam.calls).toEqual([
      "ListAccessKeys",
      "DeleteAccessKey(AKIATEST00000001)",
      "ListUserPolicies",
      "DeleteUserPolicy",
      "DeleteUserPolicy",
      "DeleteUser",
    ]);
    expect(iam.users.size).toBe(0);
    expect(metrics).toHaveBeenCalledWith("SmtpUserDeleted", "Count", 1);
  });

  it("treats an IAM user that is already gone as deleted", async () => {
    const old = smtpUserItem("already", {
      status: "active",
      iam_user_name: `ses-smtp-user-already-${STREAM_RECORD_STAMP}`,
      access_key_id: "AKIAX",
    });
    const response = await manager().manage({ Records: [streamRecord("REMOVE", { oldImage: old })] });
    expect(response.batchItemFailures).toEqual([]);
    expect(iam.calls).toEqual(["ListAccessKeys", "ListUserPolicies", "DeleteUser"]);
  });

  it("refuses to delete an IAM user it did not create, and reports the record as failed", async () => {
    const old = smtpUserItem("foreign", { status: "active", iam_user_arn: "arn:aws:iam::123456789012:user/admin" });
    const record = streamRecord("REMOVE", { oldImage: old });
    const response = await manager().manage({ Records: [record] });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.dynamodb!.SequenceNumber }]);
    expect(iam.calls).toEqual([]);
  });

  it("ignores its own writes, other statuses and other entity types", async () => {
    const active = smtpUserItem("quiet", { status: "active" });
    const rule = { PK: "ROUTE#*@example.com", SK: "RULE#v1", entity_type: "ROUTE", status: "pending" };
    const response = await manager().manage({
      Records: [
        streamRecord("MODIFY", { newImage: active, oldImage: { ...active, status: "pending" } }),
        streamRecord("MODIFY", { newImage: smtpUserItem("quiet", { status: "failed" }) }),
        streamRecord("INSERT", { newImage: rule }),
        streamRecord("REMOVE", { oldImage: smtpUserItem("never-provisioned") }),
      ],
    });
    expect(response.batchItemFailures).toEqual([]);
    expect(iam.calls).toEqual([]);
  });

  it("fails the record for a stream retry when the table cannot be written", async () => {
    const item = smtpUserItem("dbdown", { allowed_from: ["*"] });
    await put(item);
    const failing = new DynamoDbSmtpUsers({ tableName: "no-such-table", client: dynamo.client });
    const manage = createCredentialManager({
      users: {
        get: (username) => table.get(username),
        activate: (u, a) => failing.activate(u, a),
        markFailed: (u, e, t) => failing.markFailed(u, e, t),
      },
      identities: new IamSmtpIdentities({ client: iam.client }),
      encryptor: new KmsCredentialEncryptor({ keyId: KEY_ID, client: kms.client }),
      sesRegion: REGION,
      permissionsBoundary: BOUNDARY,
      observability: createObservability("credential-manager-test"),
    });
    const record = streamRecord("INSERT", { newImage: item });
    expect(await manage({ Records: [record] })).toEqual({ batchItemFailures: [{ itemIdentifier: record.dynamodb!.SequenceNumber }] });
  });

  it("reads the environment the component writes", () => {
    const env = credentialManagerEnvironmentVariables({
      routingTable: "t",
      kmsKeyId: KEY_ID,
      permissionsBoundary: BOUNDARY,
      sesRegion: "eu-west-1",
    });
    expect(readCredentialManagerEnvironment(env)).toEqual({
      routingTable: "t",
      kmsKeyId: KEY_ID,
      permissionsBoundary: BOUNDARY,
      sesRegion: "eu-west-1",
    });
    const minimal = {
      ROUTING_TABLE: "t",
      SMTP_CREDENTIALS_KEY_ID: KEY_ID,
      SMTP_USER_PERMISSIONS_BOUNDARY: BOUNDARY,
      AWS_REGION: "eu-west-2",
    };
    expect(readCredentialManagerEnvironment(minimal).sesRegion).toBe("eu-west-2");
    expect(() => readCredentialManagerEnvironment({ ROUTING_TABLE: "t" })).toThrow(/SMTP_CREDENTIALS_KEY_ID/);
    // No boundary, no start: the function never creates a user without one.
    expect(() => readCredentialManagerEnvironment({ ...minimal, SMTP_USER_PERMISSIONS_BOUNDARY: undefined })).toThrow(
      /SMTP_USER_PERMISSIONS_BOUNDARY/,
    );
    expect(() => readCredentialManagerEnvironment({ ...minimal, SMTP_USER_PERMISSIONS_BOUNDARY: "admin" })).toThrow(
      /SMTP_USER_PERMISSIONS_BOUNDARY.*managed policy/,
    );
  });
});
