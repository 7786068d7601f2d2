/**
 * "Did you mean …?": the known word closest to what was typed, for config keys (`ses-mail:domain` →
 * `domains`), commands and options. Pure, plain functions: safe in any closure.
 */

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`, case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const rows: number[][] = Array.from({ length: s.length + 1 }, (_, i) =>
    Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[s.length]![t.length]!;
}

/**
 * The candidate closest to `typed`, when it is close enough to be what was meant: at most a third of
 * its length in edits (at least one), or one that starts with what was typed. Undefined otherwise,
 * so an unrelated word gets no suggestion rather than a wrong one.
 */
export function closestMatch(typed: string, candidates: readonly string[]): string | undefined {
  if (typed === "") return undefined;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(typed, candidate);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  if (!best) return undefined;
  if (best.distance <= Math.max(1, Math.floor(best.candidate.length / 3))) return best.candidate;
  const prefixed = candidates.filter((candidate) => candidate.toLowerCase().startsWith(typed.toLowerCase()));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
