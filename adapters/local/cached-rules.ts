/**
 * The router's RuleReader for local mode: every rule of the routing table held in memory and read again
 * only when the table may have changed, so routing a batch costs no DynamoDB round trip (in AWS it is
 * one BatchGetItem; through dynalite that costs more CPU than the rest of the routing).
 *
 * "May have changed" is a generation number the table's owner bumps around every write it serves
 * (local/dynamodb.ts: before the write is applied and again before it is answered). The cache is
 * tagged with the generation read before its rules were loaded, so:
 * - a write answered before that read is in what was loaded;
 * - a write still under way then bumps the generation again when it is answered, and the next read
 *   loads the rules again.
 * A rule `ses-mail rules add --local` has just written therefore routes the next message, as it would
 * in AWS.
 */
import type { RuleReader, StoredItem } from "../../core/ports";
import { ROUTE_KEY_PREFIX } from "../../core/table";

export interface CachedRuleReaderOptions {
  /** Every rule item of the table (its `PK` is `ROUTE#<pattern>`). */
  readonly load: () => Promise<readonly StoredItem[]>;
  /** The table's write generation; any change means the rules may have changed. */
  readonly generation: () => number;
}

export class CachedRuleReader implements RuleReader {
  private readonly options: CachedRuleReaderOptions;
  private cached: { readonly generation: number; readonly rules: Promise<ReadonlyMap<string, StoredItem>> } | undefined;

  constructor(options: CachedRuleReaderOptions) {
    this.options = options;
  }

  async getRuleItems(patterns: readonly string[]): Promise<Map<string, StoredItem>> {
    const rules = await this.rules();
    const found = new Map<string, StoredItem>();
    for (const pattern of patterns) {
      const item = rules.get(pattern);
      if (item) found.set(pattern, item);
    }
    return found;
  }

  /** The rules by pattern, loaded again when the generation moved (one load shared by every caller meanwhile). */
  private rules(): Promise<ReadonlyMap<string, StoredItem>> {
    const generation = this.options.generation();
    if (this.cached?.generation === generation) return this.cached.rules;
    const rules = this.options.load().then((items) => {
      const byPattern = new Map<string, StoredItem>();
      for (const item of items) {
        if (typeof item.PK === "string" && item.PK.startsWith(ROUTE_KEY_PREFIX))
          byPattern.set(item.PK.slice(ROUTE_KEY_PREFIX.length), item);
      }
      return byPattern;
    });
    const entry = { generation, rules };
    this.cached = entry;
    // A failed load is not kept: the next read tries again.
    rules.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return rules;
  }
}
