import { GmailLabels, LABEL_CACHE_TTL_MS } from "../../../adapters/gmail/labels";
import { GoogleAccounts } from "../../../adapters/gmail/oauth";
import { oauthClientParameter, refreshTokenParameter } from "../../../core/parameters";
import { MemorySecrets } from "../../helpers/delivery";
import { FAKE_CLIENT, startFakeGoogle, type FakeGoogle } from "../../helpers/fake-google";

describe("GmailLabels: label names to a mailbox's ids", () => {
  let google: FakeGoogle;
  let clock: number;
  let labels: GmailLabels;
  let account: string;
  let counter = 0;

  beforeAll(async () => {
    google = await startFakeGoogle();
  });
  afterAll(() => google.close());
  beforeEach(() => {
    // A fresh mailbox per test, with one label the person made.
    account = `person${++counter}@gmail.com`;
    google.addAccount(account, `1//${account}`, { userLabels: [{ id: "Label_1", name: "Receipts" }] });
    const secrets = new MemorySecrets();
    secrets.values.set(oauthClientParameter("test"), JSON.stringify({ installed: FAKE_CLIENT }));
    secrets.values.set(refreshTokenParameter("test", account), JSON.stringify({ refresh_token: `1//${account}` }));
    clock = Date.parse("2026-12-01T10:00:00Z");
    const accounts = new GoogleAccounts({ secrets, environment: "test", tokenUrl: google.tokenUrl, now: () => new Date(clock) });
    labels = new GmailLabels({ accounts, environment: "test", apiBaseUrl: google.baseUrl, now: () => new Date(clock) });
  });

  it("asks Gmail nothing for system labels", async () => {
    const before = { ...google.requests };
    expect(await labels.resolve(account, ["INBOX", "UNREAD", "SPAM"])).toEqual({ ids: ["INBOX", "UNREAD", "SPAM"], unapplied: [] });
    expect(google.requests).toEqual(before);
  });

  it("finds a label made since the list was cached before creating one, and lists again once the cache is old", async () => {
    const lists = () => google.requests["labels-list"];
    const start = lists();

    await labels.resolve(account, ["Receipts"]);
    google.addLabel(account, { id: "Label_2", name: "Travel" });
    const travel = await labels.resolve(account, ["Travel"]);
    const cached = await labels.resolve(account, ["Receipts"]);
    clock += LABEL_CACHE_TTL_MS + 1;
    await labels.resolve(account, ["Receipts"]);

    expect(travel).toEqual({ ids: ["Label_2"], unapplied: [] });
    expect(cached).toEqual({ ids: ["Label_1"], unapplied: [] });
    expect(google.labelsOf(account).map((label) => label.name)).toEqual(["Receipts", "Travel"]);
    // The first list, the one that found Travel, and the one after the cache expired.
    expect(lists() - start).toBe(3);
  });

  it("takes a label made meanwhile by someone else (409) rather than failing", async () => {
    // Prepare: the list Gmail gives does not have Bills yet; by the time ses-mail creates it, someone has.
    google.failNext("labels-list", { status: 200, body: { labels: [] }, account });
    google.addLabel(account, { id: "Label_9", name: "Bills" });
    const creates = google.requests["labels-create"];

    // Act
    const resolved = await labels.resolve(account, ["bills"]);

    // Assess: the create was refused as a conflict, and the label found by listing again.
    expect(resolved).toEqual({ ids: ["Label_9"], unapplied: [] });
    expect(google.requests["labels-create"] - creates).toBe(1);
    expect(google.labelsOf(account).filter((label) => label.name.toLowerCase() === "bills")).toHaveLength(1);
  });

  it("throws what the mailbox throws for the account as a whole: a refused token parks, a 5xx retries", async () => {
    google.failNext("labels-list", { status: 500, account });
    await expect(labels.resolve(account, ["Receipts"])).rejects.toMatchObject({ code: "MAILBOX_UNAVAILABLE" });
    google.revokeRefreshToken(`1//${account}`);
    google.revokeAccessTokens();
    await expect(labels.resolve(account, ["Receipts"])).rejects.toMatchObject({ code: "MAILBOX_AUTHORIZATION" });
  });
});
