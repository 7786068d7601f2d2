import { applyVerdictPolicy, DEFAULT_VERDICT_POLICY, gmailLabels, type Verdicts } from "../../core/verdicts";

const clean: Verdicts = { spam: "PASS", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "PASS" };

describe("verdict policy with safe defaults", () => {
  it.each<[string, Partial<Verdicts>, string, string[]]>([
    ["clean mail is delivered", {}, "deliver", []],
    ["a virus is dropped", { virus: "FAIL" }, "drop", ["virus FAIL"]],
    ["spam is quarantined, not lost", { spam: "FAIL" }, "quarantine", ["spam FAIL"]],
    [
      "DMARC fail with policy quarantine is quarantined",
      { dmarc: "FAIL", dmarcPolicy: "quarantine" },
      "quarantine",
      ["dmarc FAIL (policy quarantine)"],
    ],
    ["DMARC fail with policy reject is dropped", { dmarc: "FAIL", dmarcPolicy: "reject" }, "drop", ["dmarc FAIL (policy reject)"]],
    ["DMARC fail with policy none is delivered", { dmarc: "FAIL", dmarcPolicy: "none" }, "deliver", []],
    ["spam and virus: the drop decides", { spam: "FAIL", virus: "FAIL" }, "drop", ["virus FAIL"]],
    ["processing failures are not failures", { virus: "PROCESSING_FAILED", spam: "GRAY" }, "deliver", []],
  ])("%s", (_name, verdicts, disposition, reasons) => {
    expect(applyVerdictPolicy({ ...clean, ...verdicts }, DEFAULT_VERDICT_POLICY)).toEqual({ disposition, reasons });
  });

  it("lets a stack change the policy", () => {
    const policy = { ...DEFAULT_VERDICT_POLICY, spam: "drop" as const, virus: "quarantine" as const };
    expect(applyVerdictPolicy({ ...clean, spam: "FAIL" }, policy).disposition).toBe("drop");
    expect(applyVerdictPolicy({ ...clean, virus: "FAIL" }, policy).disposition).toBe("quarantine");
  });
});

describe("gmailLabels", () => {
  it("delivers to the inbox as unread, plus the rule's labels", () => {
    expect(gmailLabels("deliver", ["Label_1"])).toEqual(["INBOX", "UNREAD", "Label_1"]);
  });
  it("puts quarantined mail in spam, never also in the inbox", () => {
    expect(gmailLabels("quarantine", ["INBOX", "Label_1"])).toEqual(["SPAM", "Label_1"]);
  });
});
