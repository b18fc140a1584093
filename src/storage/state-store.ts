/**
 * The durable state of one server: the server id and settings, the record of
 * every file it holds (with the identity of its local bytes, inode and mtime, so a
 * restart trusts the stored sha256 instead of re-hashing), and its tombstones.
 *
 * It lives in memory and is made durable by two files under DIR/.lanfs/: the
 * write-ahead journal (journal.ts), where each change is appended and flushed
 * before it is acknowledged, and the snapshot (state-snapshot.ts), rewritten by a
 * checkpoint so the journal can be trimmed. Start-up reads the snapshot and
 * replays the journal over it. No database, no native code, and no flush on the
 * event loop. (SQLite with synchronous=FULL did the same job, but each commit
 * stopped the whole server for an fsync, and it compiled from source at install.)
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileRecord } from '../protocol/messages.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { StorageError } from '../shared/errors.ts';
import { Journal, type JournalEntry } from './journal.ts';
import { keepTombstone, readSnapshot, writeSnapshot, type StateImage } from './state-snapshot.ts';

/** A record of a file held here, with what identifies its bytes on the local disk. */
export interface StoredRecord extends FileRecord {
  ino: number;
  mtimeMs: number;
}

/**
 * What remains of a deleted file: kept until every server that held it has let
 * go of its copy (`pending`), so a holder that was down during the delete
 * removes its copy when it returns instead of bringing the file back.
 */
export interface Tombstone {
  name: string;
  fileId: string;
  /** The last version the delete covers; a copy at this version or older is deleted. */
  version: number;
  deletedAt: number;
  /** Servers that held the file and have not yet been seen without it. */
  pending: number[];
}

/** Which tombstone: the deleted file's name and fileId. */
export type TombstoneId = Pick<Tombstone, 'name' | 'fileId'>;

/**
 * A version kept after an edit (place `versions`) or a deleted file's last bytes
 * (place `trash`), under DIR/.lanfs/<place>/ (storage/version-store.ts). Its
 * bytes are durable before the change that lists it is journaled.
 */
export interface KeptEntry {
  /** `<place>/<fileId>.<version>`: the path of its bytes under DIR/.lanfs. */
  key: string;
  place: 'versions' | 'trash';
  /** The version as it was when it was replaced or deleted. */
  record: FileRecord;
  keptAt: number;
  /** Trash: the client host that asked for the delete, when it said. */
  deletedBy?: string;
}

export interface StoreChange {
  put?: StoredRecord[];
  /** Versions and trash entries now kept (their bytes already durable). */
  kept?: KeptEntry[];
  /** Keys of kept entries dropped (their bytes removed after the entry is durable). */
  unkept?: string[];
  deleted?: string[];
  tombstones?: Tombstone[];
  /** Tombstones no longer needed (a bare name, in journals of before: all of that name). */
  buried?: (TombstoneId | string)[];
  meta?: Record<string, string>;
}

/** What replaying the journal means for one file's bytes on disk. */
export type ReplayedFile =
  | { name: string; kind: 'absent' }
  /** The bytes were in the journal (a small file): write them again, they may not have reached the disk. */
  | { name: string; kind: 'rewrite'; bytes: Buffer };

/** The SQLite store of lanfs 0.1, which this version does not read. */
const OLD_STATE_DB = 'state.db';

export class StateStore {
  readonly #stateDir: string;
  readonly #journal: Journal;
  readonly image: StateImage;
  #snapshotBytes = 0;
  #checkpointing: Promise<void> | undefined;

  private constructor(stateDir: string, journal: Journal, image: StateImage) {
    this.#stateDir = stateDir;
    this.#journal = journal;
    this.image = image;
  }

  /**
   * Reads the snapshot and replays the journal. `files` says, for every name the
   * journal touched, what its bytes on disk must be now; the caller makes it so
   * and then calls checkpoint(). Refuses a state it cannot read.
   */
  static async open(
    stateDir: string,
  ): Promise<{ store: StateStore; files: ReplayedFile[]; tornBytes: number }> {
    let image = await readSnapshot(stateDir);
    if (!image) {
      if (await exists(join(stateDir, OLD_STATE_DB))) {
        throw new StorageError(
          `${join(stateDir, OLD_STATE_DB)} is the state of an older lanfs, which this version does not read; move it away to start afresh (the files stay and are listed again, as new versions).`,
        );
      }
      image = {
        segment: 1,
        meta: new Map(),
        records: new Map(),
        tombstones: new Map(),
        kept: new Map(),
      };
    }
    const { journal, replay } = await Journal.open(stateDir, image.segment);
    const touched = new Set<string>();
    const inline = new Map<string, Buffer>();
    for (const entry of replay.entries) {
      const change = entry.json as StoreChange & { inlineSha256?: string };
      if (entry.bytes && change.inlineSha256) inline.set(change.inlineSha256, entry.bytes);
      applyChange(image, change);
      for (const record of change.put ?? []) touched.add(record.name);
      for (const name of change.deleted ?? []) touched.add(name);
    }
    const files: ReplayedFile[] = [];
    for (const name of touched) {
      const record = image.records.get(name);
      if (!record) files.push({ name, kind: 'absent' });
      else {
        const bytes = inline.get(record.sha256);
        if (bytes && bytes.length === record.size) files.push({ name, kind: 'rewrite', bytes });
      }
    }
    const store = new StateStore(stateDir, journal, image);
    return { store, files, tornBytes: replay.tornBytes };
  }

  getMeta(key: string): string | undefined {
    return this.image.meta.get(key);
  }

  /** Saves a setting; resolves once it is durable. */
  async setMeta(key: string, value: string): Promise<void> {
    this.image.meta.set(key, value);
    await this.commit({ meta: { [key]: value } });
  }

  /** Bytes in the journal since the last checkpoint. */
  get journalBytes(): number {
    return this.#journal.size;
  }

  get snapshotBytes(): number {
    return this.#snapshotBytes;
  }

  /**
   * Makes a change durable (and, for a small file, its bytes): resolves once the
   * journal holds it. The caller applies it to `image` after that, when the bytes
   * are in place.
   */
  async commit(change: StoreChange, inline?: { sha256: string; bytes: Buffer }): Promise<void> {
    const entry: JournalEntry = inline
      ? { json: { ...change, inlineSha256: inline.sha256 }, bytes: inline.bytes }
      : { json: change };
    await this.#journal.append(entry);
  }

  /** Applies a durable change to the in-memory state. */
  apply(change: StoreChange): void {
    applyChange(this.image, change);
  }

  /**
   * Checkpoint: starts a new journal segment, lets the caller make durable what
   * the old segments covered (`flushFiles`: waits out changes in flight and
   * flushes the files and folders they wrote), writes the snapshot, then drops
   * the old segments. One at a time; a second call waits for the running one.
   */
  async checkpoint(flushFiles: () => Promise<void>): Promise<void> {
    if (this.#checkpointing) return await this.#checkpointing;
    this.#checkpointing = (async () => {
      const old = await this.#journal.rotate();
      await flushFiles();
      crashPoint('checkpoint-after-flush');
      this.#snapshotBytes = await writeSnapshot(this.#stateDir, {
        ...this.image,
        segment: old + 1,
      });
      crashPoint('checkpoint-after-snapshot');
      await this.#journal.dropBefore(old + 1);
    })().finally(() => {
      this.#checkpointing = undefined;
    });
    return await this.#checkpointing;
  }

  async close(): Promise<void> {
    await this.#checkpointing?.catch(() => undefined);
    await this.#journal.close();
  }
}

function applyChange(image: StateImage, change: StoreChange): void {
  for (const record of change.put ?? []) image.records.set(record.name, record);
  for (const name of change.deleted ?? []) image.records.delete(name);
  for (const tombstone of change.tombstones ?? []) keepTombstone(image.tombstones, tombstone);
  for (const buried of change.buried ?? []) {
    // A bare name: a journal written before tombstones were kept per file buries them all.
    if (typeof buried === 'string') image.tombstones.delete(buried);
    else {
      const ofName = image.tombstones.get(buried.name);
      ofName?.delete(buried.fileId);
      if (ofName?.size === 0) image.tombstones.delete(buried.name);
    }
  }
  for (const [key, value] of Object.entries(change.meta ?? {})) image.meta.set(key, value);
  for (const entry of change.kept ?? []) image.kept.set(entry.key, entry);
  for (const key of change.unkept ?? []) image.kept.delete(key);
}

async function exists(path: string): Promise<boolean> {
  return await access(path).then(
    () => true,
    () => false,
  );
}
