/**
 * What a server keeps so that a mistake can be undone: the bytes of the versions
 * an edit replaced (DIR/.lanfs/versions/) and of the files a delete removed
 * (DIR/.lanfs/trash/), each named `<fileId>.<version>`, never listed as files.
 *
 * Keeping costs no copy: the old bytes are hard-linked into place before the
 * rename or unlink that would drop them, then flushed (file and folder), and only
 * then does the change that lists them reach the journal (LocalCatalog passes the
 * KeptEntry along with its record change). So a crash never leaves an entry
 * without its bytes; bytes without an entry (a crash between the two) are removed
 * at start. Pruning journals the drop first and unlinks after, for the same reason.
 *
 * What to drop is decided here (pure over the entries): more than keepVersions
 * versions of one file, trash older than trashDays, then whatever is oldest while
 * the whole exceeds the budget (bytes, or a share of the disk's free space).
 */
import { constants } from 'node:fs';
import { link, mkdir, open, readdir, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileRecord } from '../protocol/messages.ts';
import { ConfigError } from '../shared/errors.ts';
import { storageError, syncDir } from './data-directory.ts';
import { DEFAULT_KEEP_VERSIONS, DEFAULT_TRASH_DAYS } from './defaults.ts';
import type { KeptEntry } from './state-store.ts';

export type KeptPlace = KeptEntry['place'];
const PLACES: KeptPlace[] = ['versions', 'trash'];

/** A size in bytes, or a share of the disk's free space. */
export type KeepBudget = { bytes: number } | { share: number };

export interface KeepPolicy {
  /** Versions kept per file besides the current one (--keep-versions). */
  keepVersions: number;
  /** How long a deleted file stays in the trash (--trash-days), in ms. */
  trashMs: number;
  /** Versions and trash together stay within this (--versions-budget). */
  budget: KeepBudget;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_KEEP_POLICY: KeepPolicy = {
  keepVersions: DEFAULT_KEEP_VERSIONS,
  trashMs: DEFAULT_TRASH_DAYS * DAY_MS,
  budget: { share: 0.1 },
};

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** `2GiB`, `500MB`, `1048576` or `10%` (of the disk's free space). */
export function parseBudget(text: string): KeepBudget {
  const share = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (share) {
    const value = Number(share[1]);
    if (value > 0 && value <= 100) return { share: value / 100 };
  }
  const size = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = size ? UNITS[size[2]!.toLowerCase()] : undefined;
  if (size && unit !== undefined) return { bytes: Math.floor(Number(size[1]) * unit) };
  throw new ConfigError(
    `--versions-budget ${JSON.stringify(text)} is neither a size (like 2GiB or 500MB) nor a share of the free space (like 10%).`,
  );
}

export class VersionStore {
  readonly #stateDir: string;
  readonly #kept: Map<string, KeptEntry>;
  policy: KeepPolicy;

  /** `kept` is the state store's live map of entries (changed only through journaled changes). */
  constructor(stateDir: string, kept: Map<string, KeptEntry>, policy: KeepPolicy) {
    this.#stateDir = stateDir;
    this.#kept = kept;
    this.policy = policy;
  }

  static keyOf(place: KeptPlace, record: Pick<FileRecord, 'fileId' | 'version'>): string {
    return `${place}/${record.fileId}.${record.version}`;
  }

  pathOf(key: string): string {
    return join(this.#stateDir, ...key.split('/'));
  }

  /**
   * Makes the folders, removes bytes no entry names, and returns the keys of
   * entries whose bytes are missing (the caller drops them durably).
   */
  async init(): Promise<string[]> {
    const present = new Set<string>();
    for (const place of PLACES) {
      const folder = join(this.#stateDir, place);
      await mkdir(folder, { recursive: true });
      for (const entry of await readdir(folder)) {
        const key = `${place}/${entry}`;
        if (this.#kept.has(key)) present.add(key);
        else await unlink(join(folder, entry)).catch(() => undefined);
      }
    }
    return [...this.#kept.keys()].filter((key) => !present.has(key));
  }

  /**
   * Links the bytes at `path` (the file's current bytes) into place and flushes
   * them and their folder; the entry to journal with the change that replaces or
   * removes them.
   */
  async keep(
    place: KeptPlace,
    path: string,
    record: FileRecord,
    deletedBy?: string,
  ): Promise<KeptEntry> {
    const key = VersionStore.keyOf(place, record);
    const target = this.pathOf(key);
    try {
      try {
        await link(path, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // Left by an entry dropped earlier (or a crash): these bytes are the ones to keep.
        await unlink(target);
        await link(path, target);
      }
      // The bytes may never have been flushed (a small file the journal held).
      const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await syncDir(join(this.#stateDir, place));
    } catch (err) {
      await unlink(target).catch(() => undefined);
      throw storageError(err, `keeping the previous version of ${record.name}`);
    }
    const entry: KeptEntry = { key, place, record, keptAt: Date.now() };
    if (deletedBy !== undefined) entry.deletedBy = deletedBy;
    return entry;
  }

  /** Removes the bytes of an entry that is no longer journaled (or never was). */
  async discard(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch(() => undefined);
  }

  get(key: string): KeptEntry | undefined {
    return this.#kept.get(key);
  }

  /** Kept versions of one file (by fileId), newest first. */
  versionsOf(fileId: string): KeptEntry[] {
    return [...this.#kept.values()]
      .filter((e) => e.place === 'versions' && e.record.fileId === fileId)
      .sort((a, b) => b.record.version - a.record.version);
  }

  /** A kept version or trash entry of name that the write with this request id made. */
  madeBy(name: string, requestId: string): KeptEntry | undefined {
    for (const e of this.#kept.values())
      if (e.record.requestId === requestId && e.record.name === name) return e;
    return undefined;
  }

  /** Everything in the trash, newest delete first. */
  trash(): KeptEntry[] {
    return [...this.#kept.values()]
      .filter((e) => e.place === 'trash')
      .sort((a, b) => b.keptAt - a.keptAt);
  }

  /** Bytes kept in versions and in the trash. */
  usage(): { versions: number; trash: number } {
    let versions = 0;
    let trash = 0;
    for (const e of this.#kept.values()) {
      if (e.place === 'versions') versions += e.record.size;
      else trash += e.record.size;
    }
    return { versions, trash };
  }

  /** The disk's free space under DIR, in bytes. */
  async freeBytes(): Promise<number> {
    const fs = await statfs(this.#stateDir);
    return fs.bavail * fs.bsize;
  }

  /**
   * The entries to drop now, and why: `count` and `age` are the rules doing their
   * job; `budget` means the budget was full (worth a log line).
   */
  async prunePlan(
    now = Date.now(),
  ): Promise<{ key: string; reason: 'count' | 'age' | 'budget' }[]> {
    const drop = new Map<string, 'count' | 'age' | 'budget'>();
    const byFile = new Map<string, KeptEntry[]>();
    for (const e of this.#kept.values()) {
      if (e.place === 'trash') {
        if (now - e.keptAt > this.policy.trashMs) drop.set(e.key, 'age');
        continue;
      }
      const list = byFile.get(e.record.fileId) ?? [];
      list.push(e);
      byFile.set(e.record.fileId, list);
    }
    for (const list of byFile.values()) {
      list.sort((a, b) => b.record.version - a.record.version);
      for (const e of list.slice(this.policy.keepVersions)) drop.set(e.key, 'count');
    }
    const rest = [...this.#kept.values()]
      .filter((e) => !drop.has(e.key))
      .sort((a, b) => a.keptAt - b.keptAt || a.record.version - b.record.version);
    let total = rest.reduce((sum, e) => sum + e.record.size, 0);
    const budget = this.policy.budget;
    const allowed =
      'bytes' in budget
        ? budget.bytes
        : Math.floor(budget.share * ((await this.freeBytes()) + total));
    for (const e of rest) {
      if (total <= allowed) break;
      drop.set(e.key, 'budget');
      total -= e.record.size;
    }
    return [...drop].map(([key, reason]) => ({ key, reason }));
  }
}
