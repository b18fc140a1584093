/**
 * The bytes of small files kept in memory (at most SMALL_FILE_CACHE_BYTES in
 * all, the least recently used dropped first), so that reading a small file —
 * the common case of a busy server — costs no trip to the disk's thread pool.
 * An entry names the inode its bytes came from: a reader only gets them while
 * the record still names that inode, so an edit or a delete can never be
 * answered with old bytes even if an invalidation were missed.
 */
import { INLINE_MAX_BYTES } from './data-directory.ts';

/** Memory the cache may hold. */
const SMALL_FILE_CACHE_BYTES = 32 * 1024 * 1024;

interface Entry {
  ino: number;
  bytes: Buffer;
}

export class SmallFileCache {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  /** Whether a file of this size is kept here. */
  static fits(size: number): boolean {
    return size <= INLINE_MAX_BYTES;
  }

  /** The bytes of name if they are those of inode ino. */
  get(name: string, ino: number): Buffer | undefined {
    const entry = this.#entries.get(name);
    if (!entry || entry.ino !== ino) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.#entries.delete(name);
    this.#entries.set(name, entry);
    return entry.bytes;
  }

  set(name: string, ino: number, bytes: Buffer): void {
    if (!SmallFileCache.fits(bytes.length)) return;
    this.delete(name);
    this.#entries.set(name, { ino, bytes });
    this.#bytes += bytes.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= SMALL_FILE_CACHE_BYTES) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes.length;
    }
  }

  delete(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    this.#entries.delete(name);
    this.#bytes -= entry.bytes.length;
  }
}
