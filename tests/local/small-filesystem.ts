/**
 * A small filesystem of its own (a tmpfs), for filling to the last byte: a real "No space left on
 * device" from the kernel, in LevelDB's native writes as in Node's, which no fault injection at the
 * JavaScript level could produce. Mounting needs root or passwordless sudo (CI runners have it).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { errorMessage } from "../../core/errors";

export interface SmallFilesystem {
  readonly dir: string;
  /** Writes a filler file until the filesystem is full (the last write fails with ENOSPC), or until only `leaveBytes` are free. */
  fill(leaveBytes?: number): void;
  /** Removes the filler: the space is back. */
  free(): void;
  /** Unmounts it and removes the mount point. */
  remove(): void;
}

function privileged(command: string, args: readonly string[]): void {
  if (process.getuid?.() === 0) {
    execFileSync(command, args, { stdio: "pipe" });
    return;
  }
  try {
    execFileSync("sudo", ["-n", command, ...args], { stdio: "pipe" });
  } catch (error) {
    throw new Error(`mounting a small tmpfs needs root or passwordless sudo (${command} ${args.join(" ")}): ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

export function mountSmallFilesystem(sizeBytes: number): SmallFilesystem {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-small-fs-"));
  privileged("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=1777`, "tmpfs", dir]);
  const filler = path.join(dir, "filler");
  return {
    dir,
    fill(leaveBytes = 0) {
      const fd = fs.openSync(filler, "a");
      const chunk = Buffer.alloc(64 * 1024, 0x78);
      if (leaveBytes > 0) {
        try {
          const stats = fs.statfsSync(dir);
          for (let left = stats.bavail * stats.bsize - leaveBytes; left > 0; left -= chunk.length)
            fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
        // The last partial page, byte by byte chunks, until not one byte more fits.
        for (let size = 4096; size >= 1; size = Math.floor(size / 2)) {
          try {
            for (;;) fs.writeSync(fd, chunk.subarray(0, size));
          } catch (inner) {
            if ((inner as NodeJS.ErrnoException).code !== "ENOSPC") throw inner;
          }
        }
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    remove() {
      privileged("umount", ["-l", dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
