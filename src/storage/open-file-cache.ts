/**
 * Open descriptors of recently read files, shared by concurrent downloads (like
 * nginx's open_file_cache): a download of a small file then costs one read
 * instead of open, fstat, read and close. Every change of a file's bytes goes
 * through the catalog, which invalidates its entry; a descriptor in use is
 * closed only when its last reader releases it.
 */
import type { FileHandle } from 'node:fs/promises';
import type { LocalFile } from './data-directory.ts';

/** Descriptors kept open when idle; far below the usual limit of 1024 open files. */
export const OPEN_FILE_CACHE_ENTRIES = 256;

export interface OpenFile {
  handle: FileHandle;
  file: LocalFile;
  /** The caller is done reading; the descriptor may be closed from now on. */
  release: () => void;
}

interface Entry {
  opened: Promise<{ handle: FileHandle; file: LocalFile }>;
  readers: number;
  stale: boolean;
}

export class OpenFileCache {
  readonly #open: (name: string) => Promise<{ handle: FileHandle; file: LocalFile }>;
  readonly #maxEntries: number;
  /** In least-recently-used order (a use moves an entry to the end). */
  readonly #entries = new Map<string, Entry>();

  constructor(
    open: (name: string) => Promise<{ handle: FileHandle; file: LocalFile }>,
    maxEntries = OPEN_FILE_CACHE_ENTRIES,
  ) {
    this.#open = open;
    this.#maxEntries = maxEntries;
  }

  async acquire(name: string): Promise<OpenFile> {
    let entry = this.#entries.get(name);
    if (entry) this.#entries.delete(name);
    else {
      entry = { opened: this.#open(name), readers: 0, stale: false };
      entry.opened.catch(() => undefined);
    }
    this.#entries.set(name, entry);
    entry.readers++;
    const current = entry;
    try {
      const { handle, file } = await current.opened;
      this.#evict();
      let released = false;
      return {
        handle,
        file,
        release: () => {
          if (released) return;
          released = true;
          current.readers--;
          if (current.stale && current.readers === 0) void this.#close(current);
        },
      };
    } catch (err) {
      current.readers--;
      if (this.#entries.get(name) === current) this.#entries.delete(name);
      throw err;
    }
  }

  /** The bytes of name changed or are gone: never hand out the old descriptor again. */
  invalidate(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    this.#entries.delete(name);
    entry.stale = true;
    if (entry.readers === 0) void this.#close(entry);
  }

  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) entry.stale = true;
    await Promise.all(entries.filter((e) => e.readers === 0).map((e) => this.#close(e)));
  }

  #evict(): void {
    if (this.#entries.size <= this.#maxEntries) return;
    for (const [name, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) break;
      if (entry.readers > 0) continue;
      this.invalidate(name);
    }
  }

  async #close(entry: Entry): Promise<void> {
    const opened = await entry.opened.catch(() => undefined);
    await opened?.handle.close().catch(() => undefined);
  }
}
