import { spamVerdict } from "../../local/authentication";

function headers(...lines: string[]) {
  return lines.map((line) => ({ key: line.slice(0, line.indexOf(":")).toLowerCase(), line: Buffer.from(line, "latin1") }));
}

describe("the spam verdict a filter in front of local mode wrote", () => {
  it.each([
    [["X-Spam-Flag: YES"], "FAIL"],
    [["X-Spam: Yes"], "FAIL"],
    [["X-Spam-Status: Yes, score=9.1 required=5.0"], "FAIL"],
    [["X-Spam-Status: No, score=0.3 required=5.0"], "PASS"],
    [["X-Spam-Flag: NO", "X-Spam: yes"], "FAIL"],
    [["Subject: hi"], undefined],
    [["X-Spam-Level: ***"], undefined],
  ])("%j → %s", (lines, verdict) => {
    expect(spamVerdict(headers("Received: from x", ...lines))).toBe(verdict);
  });
});
