import { isLabelId, labelNameKey, labelProblem, maildirFolderOfLabel, parentLabelNames } from "../../core/labels";

describe("Gmail labels as rules name them", () => {
  it.each([
    ["INBOX", true],
    ["STARRED", true],
    ["CATEGORY_UPDATES", true],
    ["Label_12", true],
    ["Receipts", false],
    ["Shops/Receipts", false],
    ["Label_receipts", false],
    ["inbox", false],
  ])("%s is given by its id: %s", (label, id) => {
    expect(isLabelId(label)).toBe(id);
  });

  it.each([
    ["Receipts", undefined],
    ["Shops/Receipts", undefined],
    ["Reçus 2026", undefined],
    ["", /cannot be empty/],
    [" Receipts", /starts or ends with a space/],
    ["/Receipts", /empty level/],
    ["Shops//Receipts", /empty level/],
    ["Shops/", /empty level/],
    ["Shops / Receipts", /a space next to a \//],
    ["Tab\there", /control character/],
    ["x".repeat(129), /longer than 128 bytes/],
  ])("%j: %s", (label, problem) => {
    const found = labelProblem(label);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(problem);
  });

  it("lists the parents of a nested name, outermost first, and compares names as Gmail does", () => {
    expect(parentLabelNames("A/B/C")).toEqual(["A", "A/B"]);
    expect(parentLabelNames("Receipts")).toEqual([]);
    expect(labelNameKey("Shops/Receipts")).toBe(labelNameKey("shops/RECEIPTS"));
  });

  it.each([
    ["Receipts", ".Receipts"],
    ["Shops/Receipts", ".Shops.Receipts"],
    ["Label_12", ".Label_12"],
    ["v1.2/notes", ".v1\\2e2.notes"],
    ["..", ".\\2e\\2e"],
    ["a\\b", ".a\\5cb"],
  ])("local mode files %j under the Maildir++ folder %j", (label, folder) => {
    expect(maildirFolderOfLabel(label)).toBe(folder);
  });
});
