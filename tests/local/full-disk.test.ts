/**
 * Local mode on a disk that fills up, for real (a small tmpfs, filled to the last byte): it keeps
 * running when LevelDB cannot write, refuses new mail with 451 while it cannot persist, resumes by
 * itself when the space is back, and delivers every message it answered 250 exactly once. What a
 * delivery does when the disk fills under it is in storage.test.ts.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import * as fs from "node:fs";
import * as path from "node:path";
import { STORAGE_MIN_FREE_BYTES } from "../../local/limits";
import { maildirMessages, RawSmtpClient, startTestLocalMode, testConfig, type TestLocalMode } from "../helpers/local-mode";
import { mountSmallFilesystem, type SmallFilesystem } from "./small-filesystem";

const ROUTES = [{ recipient: "*@test.example.com", actions: [{ type: "forward-to-gmail", target: "box@gmail.com" }] }];

let disk: SmallFilesystem;
let local: TestLocalMode;
beforeAll(async () => {
  // Room for what local mode keeps plus the free space it insists on, and not much more.
  disk = mountSmallFilesystem(STORAGE_MIN_FREE_BYTES + 32 * 1024 * 1024);
  local = await startTestLocalMode(testConfig({ routes: ROUTES }), { dir: disk.dir });
});
afterAll(async () => {
  await local?.stop();
  disk?.remove();
});

function message(tag: string): Buffer {
  return Buffer.from(
    `From: alice@sender.example\r\nTo: someone@test.example.com\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@sender.example>\r\n\r\n${"body line\r\n".repeat(200)}`,
  );
}

/** One message on its own connection; resolves with the last reply (250 accepted, 4xx refused). */
async function send(tag: string): Promise<string> {
  const { client } = await RawSmtpClient.connect(local.mode);
  try {
    await client.send("EHLO client.sender.example");
    const replies = await client.transaction("alice@sender.example", ["someone@test.example.com"], message(tag));
    return replies.find((reply) => !reply.startsWith("2") && !reply.startsWith("3")) ?? replies.at(-1)!;
  } finally {
    await client.quit();
  }
}

function deliveries(tag: string): number {
  return maildirMessages(local.mode, "box@gmail.com").filter((stored) => stored.includes(`<${tag}@sender.example>`)).length;
}

function deadLetters(): string[] {
  const queues = path.join(local.mode.dataDir, "queues");
  return fs
    .readdirSync(queues)
    .filter((name) => name.endsWith("-dlq"))
    .flatMap((name) => fs.readdirSync(path.join(queues, name)).map((file) => `${name}/${file}`));
}

it("refuses mail with 451 while it cannot persist, keeps running through LevelDB's ENOSPC, resumes by itself, and delivers each accepted message once", async () => {
  // Prepare
  const replies = new Map<string, string>();
  const sendAndRecord = async (tag: string) => {
    const reply = await send(tag);
    replies.set(tag, reply);
    return reply;
  };
  const dynamo = new DynamoDBClient({
    endpoint: local.mode.dynamodbEndpoint,
    region: "local",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  const put = (pk: string) =>
    dynamo.send(
      new PutItemCommand({ TableName: local.mode.tableName, Item: { PK: { S: pk }, SK: { S: "X" }, data: { S: "x".repeat(4000) } } }),
    );
  await sendAndRecord("before");
  await local.mode.idle();

  // Act 1: less free space than local mode insists on (STORAGE_MIN_FREE_BYTES), but not none.
  disk.fill(8 * 1024 * 1024);
  const whileLow = await sendAndRecord("while-low");

  // Act 2: the disk full to the last byte; LevelDB takes writes until its log needs a new page, then fails for real.
  disk.fill();
  const acknowledged: string[] = [];
  let storeRefused = false;
  for (let i = 0; i < 200 && !storeRefused; i++) {
    await put(`FILLER#${i}`).then(
      () => acknowledged.push(`FILLER#${i}`),
      () => (storeRefused = true),
    );
  }
  const whileFull = await sendAndRecord("while-full");

  // Act 3: the space is back; nothing else is done.
  disk.free();
  let resumed = "";
  for (let attempt = 0; attempt < 100 && !resumed.startsWith("250"); attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    resumed = await sendAndRecord(`after-${attempt}`);
  }
  await local.mode.idle();
  const stored = await Promise.all(
    acknowledged.map(
      async (pk) =>
        (await dynamo.send(new GetItemCommand({ TableName: local.mode.tableName, Key: { PK: { S: pk }, SK: { S: "X" } } }))).Item !==
        undefined,
    ),
  );
  dynamo.destroy();

  // Assess
  expect(whileLow).toMatch(/^451 4\.3\.0 insufficient system storage/);
  expect(storeRefused).toBe(true);
  expect(whileFull).toMatch(/^451 4\.3\.0 insufficient system storage/);
  expect(resumed).toMatch(/^250 /);
  expect(stored).toEqual(acknowledged.map(() => true));
  for (const [tag, reply] of replies) {
    expect({ tag, reply: reply.slice(0, 3), delivered: deliveries(tag) }).toEqual({
      tag,
      reply: reply.slice(0, 3),
      delivered: reply.startsWith("250") ? 1 : 0,
    });
  }
  expect(deadLetters()).toEqual([]);
  expect(local.lines).toContainEqual(
    expect.stringMatching(
      /^storage: cannot persist: only \d+ MB free under .*, \d+ MB needed; new mail is refused with 451 and deliveries wait until it can$/,
    ),
  );
  expect(local.lines).toContainEqual(
    expect.stringMatching(/^DynamoDB store failed \(IO error: .*No space left on device\); restarting it until it can open its database$/),
  );
  expect(local.lines).toContainEqual("storage: can persist again; accepting mail and delivering");
  expect(local.lines).toContainEqual(expect.stringMatching(/^DynamoDB store is back/));
}, 90_000);
