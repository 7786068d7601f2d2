import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../../cli/framework";
import { LOCAL_COMMANDS } from "../../cli/local";
import { FileSecretStore } from "../../adapters/local/file-secrets";
import { SecretUnavailableError } from "../../core/errors";
import { captureOutput } from "../helpers/cli";

describe("ses-mail local: refusing bad options before starting anything", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-cli-local-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each<[string, string[], RegExp]>([
    ["a port that is not a number", ["--smtp-port", "smtp"], /--smtp-port must be a port number/],
    ["a port out of range", ["--dynamodb-port", "70000"], /--dynamodb-port must be a port number/],
    ["both --stack and --config", ["--stack", "test", "--config", "x.yaml"], /--stack or --config, not both/],
    ["a stack that has no file", ["--stack", "nope"], /no Pulumi\.nope\.yaml/],
    ["a resolver file that is not a zone", ["--resolver", "RESOLVER"], /resolver file/],
    ["a smarthost that is not HOST:PORT", ["--smarthost", "http://x"], /--smarthost must be HOST:PORT/],
  ])("refuses %s with exit code 1", async (_name, args, message) => {
    // Prepare
    fs.writeFileSync(path.join(dir, "zone.json"), JSON.stringify({ "x.example": { TXT: ["not an array"] } }));
    const argv = args.map((arg) => (arg === "RESOLVER" ? path.join(dir, "zone.json") : arg));
    const out = captureOutput();

    // Act
    const code = await runCli(
      LOCAL_COMMANDS,
      ["local", "--data-dir", path.join(dir, "data"), "--smtp-port", "0", "--dynamodb-port", "0", ...argv],
      out,
    );

    // Assess
    expect(code).toBe(1);
    expect(out.stderr.join("\n")).toMatch(message);
    expect(out.stdout.join("\n")).not.toContain("Ready");
  });
});

describe("FileSecretStore (real Gmail from local mode)", () => {
  it("reads SSM-named secrets from a JSON file, as text or as JSON", async () => {
    // Prepare
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-secrets-"));
    const file = path.join(dir, "secrets.json");
    fs.writeFileSync(
      file,
      JSON.stringify({
        "/ses-mail/test/gmail/oauth-client": { installed: { client_id: "id", client_secret: "s" } },
        "/ses-mail/test/gmail/tokens/me_at_gmail.com": '{"refresh_token":"r"}',
      }),
    );
    const store = new FileSecretStore(file);

    try {
      // Act / Assess
      expect(JSON.parse((await store.getSecret("/ses-mail/test/gmail/oauth-client"))!)).toEqual({
        installed: { client_id: "id", client_secret: "s" },
      });
      expect(await store.getSecret("/ses-mail/test/gmail/tokens/me_at_gmail.com")).toBe('{"refresh_token":"r"}');
      expect(await store.getSecret("/ses-mail/test/gmail/tokens/other_at_gmail.com")).toBeUndefined();
      fs.writeFileSync(file, "{ broken");
      await expect(store.getSecret("/x")).rejects.toThrow(SecretUnavailableError);
      expect(() => store.check()).toThrow(SyntaxError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
