/**
 * Random hex for names that must not collide (message ids, journal ids, temporary file names), drawn
 * from a buffer the CSPRNG refills RANDOM_POOL_BYTES at a time: one call into it per hundreds of names
 * instead of one per name, each of which cost about 30 µs of main-thread time on a busy machine
 * (measured, several per message). Not for secrets: a key or a token takes its bytes from
 * node:crypto directly.
 */
import { randomBytes } from "node:crypto";

/** How many random bytes are drawn at once. */
export const RANDOM_POOL_BYTES = 4096;

let pool = Buffer.alloc(0);
let offset = 0;

/** `bytes` random bytes as lower-case hex (2 × `bytes` characters). */
export function randomHex(bytes: number): string {
  if (bytes > RANDOM_POOL_BYTES) return randomBytes(bytes).toString("hex");
  if (offset + bytes > pool.length) {
    pool = randomBytes(RANDOM_POOL_BYTES);
    offset = 0;
  }
  const hex = pool.toString("hex", offset, offset + bytes);
  offset += bytes;
  return hex;
}
