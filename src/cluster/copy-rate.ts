/**
 * The rate copies moved at lately on this server (healing and catch-up copies
 * it sent), for `lanfs plan`'s "time at the rate measured lately". Keeps the
 * last few copies of the last few minutes; none means the rate is unknown.
 */

/** Copies remembered at most. */
const KEPT = 32;
/** Copies older than this no longer say anything about the network now. */
const WINDOW_MS = 15 * 60 * 1000;
/** Copies smaller than this measure latency, not throughput. */
const MIN_BYTES = 64 * 1024;

export class CopyRate {
  readonly #copies: { at: number; bytes: number; ms: number }[] = [];

  record(bytes: number, ms: number, now = Date.now()): void {
    if (bytes < MIN_BYTES || ms <= 0) return;
    this.#copies.push({ at: now, bytes, ms });
    if (this.#copies.length > KEPT) this.#copies.shift();
  }

  /** Bytes per second over the recent copies, or undefined when there were none. */
  bytesPerSecond(now = Date.now()): number | undefined {
    const recent = this.#copies.filter((c) => now - c.at <= WINDOW_MS);
    if (recent.length === 0) return undefined;
    const bytes = recent.reduce((sum, c) => sum + c.bytes, 0);
    const ms = recent.reduce((sum, c) => sum + c.ms, 0);
    return Math.round((bytes * 1000) / ms);
  }
}
