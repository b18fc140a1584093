/**
 * The names of every file the cluster view knows, kept in order, so a listing
 * can start after any name (`show --after`, `/api/files?after=`) with a seek
 * instead of a scan and sort of every record per page. Names are ordered by
 * UTF-16 code units (JavaScript's `<`), the order `show` has always printed.
 *
 * Kept as a list of sorted chunks (a one-level B-tree): an insert or delete
 * moves at most one chunk's entries, a seek is two binary searches. A plain
 * sorted array would move half a million names per insert at a million files.
 */

/** A chunk splits in two past this many names; two small neighbours merge. */
const CHUNK_MAX_NAMES = 512;
const CHUNK_MIN_NAMES = CHUNK_MAX_NAMES / 4;

export class SortedNames {
  /** Non-empty chunks, each sorted, every name of one below every name of the next. */
  #chunks: string[][] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Builds the index from names in any order, in one sort (faster than adding one by one). */
  static from(names: Iterable<string>): SortedNames {
    const all = [...new Set(names)].sort(compareNames);
    const index = new SortedNames();
    for (let i = 0; i < all.length; i += CHUNK_MAX_NAMES / 2)
      index.#chunks.push(all.slice(i, i + CHUNK_MAX_NAMES / 2));
    index.#size = all.length;
    return index;
  }

  has(name: string): boolean {
    const chunk = this.#chunks[this.#chunkFor(name)];
    if (!chunk) return false;
    const at = lowerBound(chunk, name);
    return chunk[at] === name;
  }

  /** Adds name; false when it was there already. */
  add(name: string): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([name]);
      this.#size = 1;
      return true;
    }
    const c = this.#chunkFor(name);
    const chunk = this.#chunks[c]!;
    const at = lowerBound(chunk, name);
    if (chunk[at] === name) return false;
    chunk.splice(at, 0, name);
    this.#size++;
    if (chunk.length > CHUNK_MAX_NAMES)
      this.#chunks.splice(c, 1, chunk.slice(0, chunk.length >> 1), chunk.slice(chunk.length >> 1));
    return true;
  }

  /** Removes name; false when it was not there. */
  delete(name: string): boolean {
    const c = this.#chunkFor(name);
    const chunk = this.#chunks[c];
    if (!chunk) return false;
    const at = lowerBound(chunk, name);
    if (chunk[at] !== name) return false;
    chunk.splice(at, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(c, 1);
    else if (chunk.length < CHUNK_MIN_NAMES && c + 1 < this.#chunks.length) {
      const next = this.#chunks[c + 1]!;
      if (chunk.length + next.length <= CHUNK_MAX_NAMES)
        this.#chunks.splice(c, 2, chunk.concat(next));
    }
    return true;
  }

  /**
   * Up to `limit` names after `after` (all when absent) that start with `prefix`,
   * in order. A seek: the cost is that of the names returned, not of those skipped.
   */
  page(limit: number, after?: string, prefix = ''): string[] {
    const out: string[] = [];
    if (limit <= 0) return out;
    // Start at the first name > after and >= prefix (every name with the prefix sorts at or after it).
    const useAfter = after !== undefined && after >= prefix;
    const from = useAfter ? after : prefix;
    let c = this.#chunkFor(from);
    if (c >= this.#chunks.length) return out;
    let chunk = this.#chunks[c]!;
    let i = lowerBound(chunk, from);
    if (useAfter && chunk[i] === after) i++;
    for (;;) {
      if (i >= chunk.length) {
        c++;
        if (c >= this.#chunks.length) return out;
        chunk = this.#chunks[c]!;
        i = 0;
      }
      const name = chunk[i]!;
      if (!name.startsWith(prefix)) return out;
      out.push(name);
      if (out.length >= limit) return out;
      i++;
    }
  }

  /** Every name in order. */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const chunk of this.#chunks) yield* chunk;
  }

  /** The chunk a name belongs in: the last whose first name is <= name (the first if none). */
  #chunkFor(name: string): number {
    let lo = 0;
    let hi = this.#chunks.length - 1;
    if (hi < 0) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#chunks[mid]![0]! <= name) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The index of the first entry >= name. */
function lowerBound(sorted: string[], name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
