/**
 * An append-only file of JSON lines for records that matter to people but carry no delivery guarantee
 * (local mode's `events.jsonl` and `outcomes.jsonl`): nothing is fsynced, so a crash of the machine may
 * lose the last lines, never mail (a crash of the process loses nothing that was appended: the lines are
 * in the kernel's cache).
 *
 * Writes are synchronous on a descriptor kept open: a few hundred bytes into the page cache cost less
 * than handing them to the thread pool (adapters/local/durable-file.ts). `append` gathers the lines of
 * one turn of the event loop into one write; `appendNow` writes at once (after what is gathered, so the
 * order holds) and throws if it cannot, for a caller that must know its line is written before it goes
 * on. A failed write (a full disk) is reported once per failure through `onError`, and the file is
 * reopened for the next line, so the record resumes when the fault goes away.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { asError } from "../../core/errors";

export class JsonLinesFile {
  private fd: number | undefined;
  private failing = false;
  private gathered: string[] = [];
  private flushScheduled = false;

  constructor(
    readonly file: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.fd = fs.openSync(this.file, "a");
    return this.fd;
  }

  /** Writes `text` whole, or throws (and drops the descriptor, so the next write opens the file again). */
  private write(text: string): void {
    try {
      const fd = this.open();
      const buffer = Buffer.from(text);
      for (let offset = 0; offset < buffer.length;) offset += fs.writeSync(fd, buffer, offset, buffer.length - offset);
      this.failing = false;
    } catch (error) {
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) fs.close(fd, () => undefined);
      throw error;
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.gathered.length === 0) return;
    const text = this.gathered.join("");
    this.gathered = [];
    try {
      this.write(text);
    } catch (error) {
      if (!this.failing) this.onError(asError(error));
      this.failing = true;
    }
  }

  /** Adds a line, written with the others of this turn of the event loop. Never throws. */
  append(value: unknown): void {
    this.gathered.push(`${JSON.stringify(value)}\n`);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes a line now (after the gathered ones); throws when it cannot be written. */
  appendNow(value: unknown): void {
    const gathered = this.gathered.join("");
    this.gathered = [];
    try {
      this.write(`${gathered}${JSON.stringify(value)}\n`);
    } catch (error) {
      // The others' lines are tried again with the next write.
      if (gathered) this.gathered.unshift(gathered);
      throw error;
    }
  }

  /** Writes what is gathered and closes the file (it reopens on the next line). */
  async close(): Promise<void> {
    this.flush();
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) fs.closeSync(fd);
  }
}
