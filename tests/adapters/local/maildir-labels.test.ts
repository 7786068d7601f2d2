import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { InvalidMailboxError, MaildirImporter, placementFor } from "../../../adapters/local/maildir";

describe("local mode's Maildir: label names as Maildir++ folders", () => {
  it("maps names level by level, and ids to themselves", () => {
    expect(placementFor(["INBOX", "UNREAD", "Shops/Receipts", "Label_7", "STARRED"])).toEqual({
      folder: "",
      subdir: "new",
      flags: "F",
      labelFolders: [".Shops.Receipts", ".Label_7"],
    });
    expect(() => placementFor(["INBOX", "Shops//Receipts"])).toThrow(InvalidMailboxError);
  });

  it("links the delivered file into the folder of a nested label", async () => {
    // Prepare
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-maildir-labels-"));
    const bytes = Buffer.from("Subject: receipt\r\n\r\nThanks.\r\n");
    try {
      // Act
      const { id } = await new MaildirImporter({ root, hostname: "mx.test" }).importMessage(
        "me@gmail.com",
        { body: Readable.from([bytes]), size: bytes.length },
        ["INBOX", "UNREAD", "Shops/Receipts"],
      );

      // Assess
      const labelled = path.join(root, "me@gmail.com", ".Shops.Receipts");
      expect(fs.readFileSync(path.join(labelled, "new", id))).toEqual(bytes);
      expect(fs.existsSync(path.join(labelled, "maildirfolder"))).toBe(true);
      expect(fs.readFileSync(path.join(root, "me@gmail.com", "new", id))).toEqual(bytes);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
