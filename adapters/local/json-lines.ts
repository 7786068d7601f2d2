/**
 * An append-only file of JSON lines for records that matter to people but carry no delivery guarantee
 * (local mode's `outcomes.jsonl`): lines go through one append stream, so lines written while a write is
 * in flight leave together in one writev, and nothing is fsynced. A crash may lose the last lines, never
 * mail. A failed write (a full disk) is reported once per failure and the file is reopened on the next
 * line, so the record resumes when the fault goes away.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { asError } from "../../core/errors";

export class JsonLinesFile {
  private stream: fs.WriteStream | undefined;
  private failing = false;

  constructor(
    readonly file: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  private open(): fs.WriteStream {
    if (this.stream && !this.stream.destroyed) return this.stream;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const stream = fs.createWriteStream(this.file, { flags: "a" });
    stream.on("error", (error) => {
      if (this.stream === stream) this.stream = undefined;
      if (!this.failing) this.onError(error);
      this.failing = true;
    });
    this.stream = stream;
    return stream;
  }

  append(value: unknown): void {
    const line = `${JSON.stringify(value)}\n`;
    let stream: fs.WriteStream;
    try {
      stream = this.open();
    } catch (error) {
      if (!this.failing) this.onError(asError(error));
      this.failing = true;
      return;
    }
    stream.write(line, (error) => {
      if (!error) this.failing = false;
    });
  }

  /** Writes what is buffered and closes the file (it reopens on the next line). */
  close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (!stream || stream.destroyed) return Promise.resolve();
    return new Promise((resolve) => stream.end(() => resolve()));
  }
}
