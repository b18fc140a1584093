/**
 * The files this server holds: their records (the StateStore, durable through its
 * journal) and their bytes (the DataDirectory), changed together so that a record
 * never points at missing bytes. It is the storage logic of one server and knows
 * nothing of sockets or peers: the server feeds it finished uploads and asks it
 * for files.
 *
 * A small file (at most INLINE_MAX_BYTES): its record and bytes go into the
 * journal, one flush shared with every change waiting at that moment; then the
 * plain file is written (no flush: the journal holds it until a checkpoint) and
 * the change is acknowledged. A crash before the journal flush loses only an
 * unacknowledged change; after it, start-up replays the journal and writes the
 * bytes again. A large file: streamed to a temp file, flushed, linked into place,
 * then its folder flush and its journal entry run together; a crash before the
 * entry leaves bytes that the start-up scan adopts whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { covers, nextLineage, type FileRecord, type TombstoneRef } from '../protocol/messages.ts';
import { crashPoint } from '../shared/crash-points.ts';
import {
  ChecksumMismatchError,
  StorageError,
  ConfigError,
  EditConflictError,
  NameExistsError,
  NotFoundError,
  NotInTrashError,
  VersionNotKeptError,
} from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import {
  DataDirectory,
  storageError,
  type LocalFile,
  type Received,
  type Upload,
} from './data-directory.ts';
import { OpenFileCache, type OpenFile } from './open-file-cache.ts';
import { SmallFileCache } from './small-file-cache.ts';
import { DEFAULT_KEEP_POLICY, VersionStore, type KeepPolicy } from './version-store.ts';
import {
  StateStore,
  type KeptEntry,
  type ReplayedFile,
  type StoreChange,
  type StoredRecord,
  type Tombstone,
  type TombstoneId,
} from './state-store.ts';

/** Writes remembered by request id, for replays after a server died before answering. */
const RECENT_WRITES = 10_000;

export interface LocalCatalogOptions {
  /** The exported directory. */
  root: string;
  /** The server id; required the first time the directory is used, then must match. */
  serverId?: number;
  logger: Logger;
  /** How many files the start-up scan hashes at once. Default 4. */
  hashConcurrency?: number;
  /**
   * Journal bytes after which a checkpoint runs (default 64 MiB, or
   * LANFS_CHECKPOINT_BYTES): the bound on what a restart replays.
   */
  checkpointBytes?: number;
  /** What is kept of replaced versions and deleted files (storage/version-store.ts). */
  keep?: KeepPolicy;
}

const DEFAULT_CHECKPOINT_BYTES = 64 * 1024 * 1024;
const DEFAULT_HASH_CONCURRENCY = 4;
/**
 * The start-up scan commits (journal, then memory, then told to the listeners: the
 * peers) the records it has found every this many files or this long, whichever
 * comes first: one flush per batch, and the others see the files as they are found.
 */
const SCAN_BATCH_RECORDS = 1000;
const SCAN_BATCH_MS = 500;
/** A scan batch may wait for the one before it to be committed, not more. */
const SCAN_BATCHES_WAITING = 2;
/** The buffer each of the scan's hashes reads through (one per hash at once, reused). */
const SCAN_HASH_PIECE_BYTES = 256 * 1024;
/** How often an idle server looks whether its journal is worth a checkpoint. */
const CHECKPOINT_CHECK_MS = 30_000;

/**
 * A file opened for reading, with the record that describes exactly its bytes:
 * a small one as its bytes (from memory), a large one as a descriptor to read.
 * The caller calls release() when done.
 */
export type OpenedFile = { record: FileRecord } & (
  { bytes: Buffer; release: () => void; handle?: undefined } | ({ bytes?: undefined } & OpenFile)
);

export interface ScanReport {
  files: number;
  hashed: number;
  adopted: number;
  changed: number;
  vanished: number;
  skipped: number;
  removedTempFiles: number;
}

/** What an upload must match: the size announced up front (if any) and the sha256 sent at the end. */
export interface UploadCheck {
  size: number | null;
  /** Absent when the sender gave none (an HTTP body): what arrived is taken as is. */
  sha256?: string;
}

/** What a writer said about a version (media type, metadata, S3 ETag), kept in its record. */
export type VersionDescription = Pick<
  FileRecord,
  'contentType' | 'metadata' | 's3ETag' | 'writtenBy' | 'placedAmong'
>;

/** The set fields of a description: records are compared and journaled without undefined keys. */
export function described(description: VersionDescription = {}): VersionDescription {
  const out: VersionDescription = {};
  if (description.contentType !== undefined) out.contentType = description.contentType;
  if (description.metadata !== undefined) out.metadata = description.metadata;
  if (description.s3ETag !== undefined) out.s3ETag = description.s3ETag;
  if (description.writtenBy !== undefined) out.writtenBy = description.writtenBy;
  if (description.placedAmong !== undefined) out.placedAmong = description.placedAmong;
  return out;
}

export class LocalCatalog {
  readonly serverId: number;
  readonly directory: DataDirectory;
  readonly #store: StateStore;
  readonly #logger: Logger;
  /** Every record held here: the store's in-memory image, changed only once durable. */
  readonly #records: Map<string, StoredRecord>;
  /** Names with a create in flight: claimed, so a second create of one name fails at once. */
  readonly #reserved = new Set<string>();
  /** Per-name chain of changes, so an edit and a delete of one name never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #openFiles: OpenFileCache;
  readonly #smallFiles = new SmallFileCache();
  readonly #changeListeners: ((name: string) => void)[] = [];
  /** The last writes by request id, oldest first (see recentWrite). */
  readonly #recentWrites = new Map<string, StoredRecord>();
  /** By name, then fileId: one per deleted file (state-snapshot.ts). */
  readonly #tombstones: Map<string, Map<string, Tombstone>>;
  /** Changes between their journal entry and their bytes in place: a checkpoint waits for them. */
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #checkpointBytes: number;
  #checkpointTimer: NodeJS.Timeout | undefined;
  /** Versions an edit replaced and files a delete removed, kept within a budget. */
  readonly versions: VersionStore;
  /** Prunes run one after another, after the change that made them due. */
  #pruning: Promise<void> = Promise.resolve();
  /** The start-up scan, once started (scan()). */
  #scanning: Promise<ScanReport> | undefined;
  /** While the start-up scan runs (it checkpoints at its end). */
  #scanRunning = false;
  /** Set by close(): a scan still running stops at its next file. */
  #closing = false;
  #hashConcurrency = DEFAULT_HASH_CONCURRENCY;
  #removedTempFiles = 0;
  /** The journal replay changed what the snapshot says: the scan's checkpoint must run. */
  #checkpointDue = false;

  private constructor(
    serverId: number,
    directory: DataDirectory,
    store: StateStore,
    options: LocalCatalogOptions,
  ) {
    this.serverId = serverId;
    this.directory = directory;
    this.#store = store;
    this.#records = store.image.records;
    this.#tombstones = store.image.tombstones;
    this.#logger = options.logger;
    this.#checkpointBytes =
      options.checkpointBytes ??
      (Number(process.env.LANFS_CHECKPOINT_BYTES) || DEFAULT_CHECKPOINT_BYTES);
    this.#openFiles = new OpenFileCache((name) => directory.openForRead(name));
    this.versions = new VersionStore(
      directory.stateDir,
      store.image.kept,
      options.keep ?? DEFAULT_KEEP_POLICY,
    );
  }

  /**
   * Opens the data directory, checks the server id, replays the journal and
   * reconciles records with the disk (openUnscanned, then scan).
   */
  static async open(
    options: LocalCatalogOptions,
  ): Promise<{ catalog: LocalCatalog; scan: ScanReport }> {
    const catalog = await LocalCatalog.openUnscanned(options);
    try {
      return { catalog, scan: await catalog.scan() };
    } catch (err) {
      await catalog.close();
      throw err;
    }
  }

  /**
   * Opens the data directory, checks the server id and replays the journal: the
   * records known at the last stop are in, the folder is not scanned yet. A server
   * joins its cluster first and then runs scan(), so the files it adopts reach the
   * others as they are found.
   */
  static async openUnscanned(options: LocalCatalogOptions): Promise<LocalCatalog> {
    const directory = new DataDirectory(options.root);
    const { removedTempFiles } = await directory.init();
    const { store, files, tornBytes } = await StateStore.open(directory.stateDir);
    try {
      const stored = store.getMeta('serverId');
      let serverId: number;
      if (stored === undefined) {
        if (options.serverId === undefined) {
          throw new ConfigError(
            `${directory.root} is new to lanfs: give this server an id with --id N (a positive integer).`,
          );
        }
        serverId = options.serverId;
        await store.setMeta('serverId', String(serverId));
      } else {
        serverId = Number(stored);
        if (options.serverId !== undefined && options.serverId !== serverId) {
          throw new ConfigError(
            `${directory.root} belongs to server ${serverId}, not ${options.serverId}: start it with --id ${serverId} or use another --data folder.`,
          );
        }
      }
      if (tornBytes > 0)
        options.logger.warn(
          { tornBytes },
          'the journal ended in a change cut short by a crash (never acknowledged); dropped it',
        );
      const catalog = new LocalCatalog(serverId, directory, store, options);
      catalog.#removedTempFiles = removedTempFiles;
      catalog.#hashConcurrency = options.hashConcurrency ?? DEFAULT_HASH_CONCURRENCY;
      await catalog.#replayFiles(files);
      const lost = await catalog.versions.init();
      if (lost.length > 0) {
        options.logger.warn({ lost }, 'kept versions whose bytes are gone were dropped');
        store.apply({ unkept: lost });
      }
      // What the replay changed is made durable by the checkpoint at the end of the scan.
      catalog.#checkpointDue = files.length > 0 || lost.length > 0;
      catalog.#checkpointTimer = setInterval(
        () => catalog.#checkpointIfWorth(),
        CHECKPOINT_CHECK_MS,
      ).unref();
      return catalog;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /**
   * The start-up scan (once; a second call gets the same answer): makes the records
   * match the folder (see #reconcile), then a checkpoint, so the next start replays
   * nothing (a clean stop left an empty journal and needs none).
   */
  scan(): Promise<ScanReport> {
    this.#scanning ??= (async () => {
      this.#scanRunning = true;
      let scan: Omit<ScanReport, 'removedTempFiles'>;
      try {
        scan = await this.#reconcile(this.#hashConcurrency);
      } finally {
        this.#scanRunning = false;
      }
      if (this.#store.journalBytes > 0 || this.#checkpointDue || scan.hashed + scan.vanished > 0)
        await this.checkpoint();
      return { ...scan, removedTempFiles: this.#removedTempFiles };
    })();
    return this.#scanning;
  }

  /** Called after every committed create, edit or delete, with the file's name. */
  onChange(listener: (name: string) => void): void {
    this.#changeListeners.push(listener);
  }

  #changed(name: string): void {
    const record = this.#records.get(name);
    if (record?.requestId !== undefined) {
      this.#recentWrites.set(record.requestId, record);
      for (const oldest of this.#recentWrites.keys()) {
        if (this.#recentWrites.size <= RECENT_WRITES) break;
        this.#recentWrites.delete(oldest);
      }
    }
    for (const listener of this.#changeListeners) listener(name);
  }

  get size(): number {
    return this.#records.size;
  }

  get(name: string): FileRecord | undefined {
    const record = this.#records.get(name);
    return record && publicRecord(record);
  }

  has(name: string): boolean {
    return this.#records.has(name);
  }

  list(): FileRecord[] {
    return [...this.#records.values()].map(publicRecord);
  }

  /** The names held here, without copying the records (for scans that stop early). */
  names(): IterableIterator<string> {
    return this.#records.keys();
  }

  /** Server state kept beside the records (e.g. the members this server has seen). */
  getMeta(key: string): string | undefined {
    return this.#store.getMeta(key);
  }

  /** Saves a setting in the background (a failure is logged; the setting stays in memory). */
  setMeta(key: string, value: string): void {
    this.#store
      .setMeta(key, value)
      .catch((err: unknown) => this.#logger.warn({ err, key }, 'could not save a setting'));
  }

  /**
   * Opens name for reading, with the record that describes exactly the bytes
   * behind the descriptor (an edit in between is waited out, never mixed in).
   * The caller must call release() when done.
   */
  async openFile(name: string): Promise<OpenedFile> {
    for (let attempt = 0; ; attempt++) {
      const record = this.#records.get(name);
      if (!record) throw new NotFoundError(name);
      // A small file held in memory needs no descriptor at all.
      const held = SmallFileCache.fits(record.size)
        ? this.#smallFiles.get(name, record.ino)
        : undefined;
      if (held) return { record: publicRecord(record), bytes: held, release: () => undefined };
      let open: OpenFile;
      try {
        open = await this.#openFiles.acquire(name);
      } catch (err) {
        // A delete or an edit that renamed the bytes away between the record lookup and
        // the open: the record says so now (gone: not found; replaced: read the new one).
        if (this.#records.get(name) === record || attempt > 2) throw err;
        continue;
      }
      if (open.file.ino === record.ino && open.file.size === record.size) {
        if (!SmallFileCache.fits(record.size)) return { record: publicRecord(record), ...open };
        // Read it whole once, as the caller would have; later reads come from memory.
        let bytes: Buffer;
        try {
          bytes = await readWhole(open.handle, record.size);
        } finally {
          open.release();
        }
        if (this.#records.get(name) === record && bytes.length === record.size)
          this.#smallFiles.set(name, record.ino, bytes);
        return { record: publicRecord(record), bytes, release: () => undefined };
      }
      open.release();
      this.#openFiles.invalidate(name);
      if (attempt > 0) {
        throw new StorageError(
          `The bytes of "${name}" on this server changed outside lanfs; try again in a moment.`,
        );
      }
      await this.#withLock(name, () => Promise.resolve()); // let a change in progress finish
    }
  }

  /** Whether a create of name is in flight here. */
  isReserved(name: string): boolean {
    return this.#reserved.has(name);
  }

  /** Claims name for a create, or throws NameExistsError. Call the returned function when done. */
  reserve(name: string): () => void {
    if (this.#records.has(name) || this.#reserved.has(name)) throw new NameExistsError(name);
    this.#reserved.add(name);
    return () => this.#reserved.delete(name);
  }

  /** Stores a finished upload as the new file name (version 1, primary here). */
  async create(
    name: string,
    upload: Upload,
    check: UploadCheck,
    identity: {
      fileId?: string;
      replicas?: number[];
      requestId?: string;
      description?: VersionDescription;
    } = {},
  ): Promise<FileRecord> {
    const received = await this.#finishUpload(upload, check);
    crashPoint('create-after-temp-fsync');
    return await this.#withLock(name, async () => {
      if (this.#records.has(name)) {
        await upload.abort();
        throw new NameExistsError(name);
      }
      const make = (local: LocalFile): StoredRecord => ({
        ...this.#recordFor(local, received.sha256, 1, Date.now(), identity.fileId ?? newFileId()),
        replicas: identity.replicas ?? [],
        requestId: identity.requestId,
        ...described(identity.description),
      });
      const record = await this.#store_(name, upload, received, 'new', make, {
        buried: this.#buriedBy(name).map(tombstoneId),
      });
      crashPoint('create-after-record');
      return record;
    });
  }

  /** Checks an edit can start from baseVersion; throws NotFound / EditConflict. */
  checkEditable(name: string, baseVersion: number): void {
    const current = this.#records.get(name);
    if (!current) throw new NotFoundError(name);
    if (current.version !== baseVersion)
      throw new EditConflictError(name, baseVersion, current.version);
  }

  /**
   * Replaces name with a finished upload as the next version, if it is still at
   * baseVersion. This server becomes (or stays) the file's primary.
   */
  async edit(
    name: string,
    baseVersion: number,
    upload: Upload,
    check: UploadCheck,
    requestId?: string,
    description?: VersionDescription,
  ): Promise<FileRecord> {
    const received = await this.#finishUpload(upload, check);
    return await this.#withLock(name, async () => {
      let current: StoredRecord;
      try {
        this.checkEditable(name, baseVersion);
        current = this.#records.get(name)!;
      } catch (err) {
        await upload.abort();
        throw err;
      }
      const kept = await this.#keepBefore(name, current, upload);
      return await this.#keeping(kept, () =>
        this.#store_(
          name,
          upload,
          received,
          'replace',
          (local) => ({
            ...this.#recordFor(local, received.sha256, baseVersion + 1, Date.now(), current.fileId),
            replicas: withFormerPrimary(current, this.serverId),
            requestId,
            lineage: nextLineage(current),
            ...described(description),
          }),
          kept ? { kept: [kept] } : {},
        ),
      );
    });
  }

  /** The bytes of current, kept before an edit or a newer copy replaces them (none if keeping none). */
  async #keepBefore(
    name: string,
    current: StoredRecord,
    upload: Upload,
  ): Promise<KeptEntry | undefined> {
    if (this.versions.policy.keepVersions <= 0) return undefined;
    try {
      return await this.versions.keep(
        'versions',
        this.directory.pathOf(name),
        publicRecord(current),
      );
    } catch (err) {
      await upload.abort();
      throw err;
    }
  }

  /** Runs a change that lists `kept`; if it fails, the kept bytes go again. Prunes after. */
  async #keeping<T>(kept: KeptEntry | undefined, change: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (err) {
      if (kept) await this.versions.discard(kept.key);
      throw err;
    }
    if (kept) void this.prune();
    return result;
  }

  /**
   * Drops what the policy no longer keeps (in the background, one prune at a time):
   * the drop is journaled first, then the bytes go. A full budget never blocks a
   * write: the oldest entries go, and that is logged.
   */
  prune(): Promise<void> {
    this.#pruning = this.#pruning.then(async () => {
      try {
        const plan = await this.versions.prunePlan();
        if (plan.length === 0) return;
        const keys = plan.map((p) => p.key);
        await this.#commitAndApply({ unkept: keys });
        await Promise.all(keys.map((key) => this.versions.discard(key)));
        const budget = plan.filter((p) => p.reason === 'budget').map((p) => p.key);
        if (budget.length > 0)
          this.#logger.warn(
            { dropped: budget },
            'the versions budget is full: dropped the oldest kept versions and trash',
          );
      } catch (err) {
        this.#logger.warn(
          { err },
          'could not prune kept versions; trying again after the next change',
        );
      }
    });
    return this.#pruning;
  }

  /** A kept version of name (by the current file's id) or the current one, opened for reading. */
  async openVersion(name: string, version: number): Promise<OpenedFile> {
    const current = this.#records.get(name);
    if (!current) throw new NotFoundError(name);
    if (current.version === version) return await this.openFile(name);
    const entry = this.versions.get(
      VersionStore.keyOf('versions', { fileId: current.fileId, version }),
    );
    if (!entry) throw new VersionNotKeptError(name, version);
    const { handle } = await openKeptFile(this.versions.pathOf(entry.key));
    return {
      record: entry.record,
      handle,
      file: { name, size: entry.record.size, ino: 0, mtimeMs: 0 },
      release: () => void handle.close(),
    };
  }

  /** The current record of name and its kept versions, newest first. */
  history(name: string): { current: FileRecord; kept: KeptEntry[] } {
    const current = this.#records.get(name);
    if (!current) throw new NotFoundError(name);
    return { current: publicRecord(current), kept: this.versions.versionsOf(current.fileId) };
  }

  /**
   * What a create, edit or copy of name with this request id made here lately (the last
   * RECENT_WRITES of them, in memory): a replay is answered with it at once, whatever
   * changed since, even if the name now holds another file at the version it started from.
   */
  recentWrite(name: string, requestId: string): FileRecord | undefined {
    const record = this.#recentWrites.get(requestId);
    return record?.name === name ? publicRecord(record) : undefined;
  }

  /**
   * The kept version of name (an older version, or the trash) an edit with this request
   * id made: after a restart (recentWrite forgot it) a retried edit that finds later
   * versions on top, or the file deleted since, is told it was applied, not that it
   * conflicts. A walk of the kept entries: only for an edit that would be refused.
   */
  editedBy(name: string, requestId: string): FileRecord | undefined {
    return this.versions.madeBy(name, requestId)?.record;
  }

  /**
   * Brings a file back from the trash as a new version of the same file (its fileId,
   * one version above both its last version and any tombstone of it), so a tombstone
   * anywhere still removes stale copies (at or below the deleted version) and never
   * this one. Under another name (`as`) it is a new file. Refused if the name is taken.
   */
  async undelete(key: string, as?: string): Promise<FileRecord> {
    const entry = this.versions.get(key);
    if (!entry || entry.place !== 'trash') throw new NotInTrashError(as ?? key);
    const name = as ?? entry.record.name;
    return await this.#withLock(name, async () => {
      if (this.#records.has(name) || this.#reserved.has(name))
        throw new NameExistsError(
          name,
          'exists again (the name was used after the delete); bring the old one back under another name with --as NEW',
        );
      const fileId = as === undefined ? entry.record.fileId : newFileId();
      const tombstone = this.#tombstones.get(name)?.get(fileId);
      const version =
        as === undefined ? Math.max(entry.record.version, tombstone?.version ?? 0) + 1 : 1;
      return await this.#durably(async () => {
        const local = await this.directory.linkIn(this.versions.pathOf(key), name);
        const record: StoredRecord = {
          ...entry.record,
          ...this.#recordFor(local, entry.record.sha256, version, Date.now(), fileId),
        };
        delete record.requestId;
        delete record.available;
        if (as !== undefined) delete record.conflictOf;
        const change: StoreChange = { put: [record], unkept: [key] };
        await this.#store.commit(change);
        this.#store.apply(change);
        await this.versions.discard(key);
        this.#changed(name);
        return publicRecord(record);
      });
    });
  }

  /** Removes an entry from the trash for good (delete --purge of something already deleted). */
  async purge(key: string): Promise<void> {
    if (!this.versions.get(key)) return;
    await this.#commitAndApply({ unkept: [key] });
    await this.versions.discard(key);
  }

  /**
   * Stores a version of a file sent by its primary (a copy, or a new version of
   * one). Never replaces a newer version by an older one: an older or equal
   * version is dropped and the current record returned. A different file of the
   * same name (another fileId) is refused with NameExists.
   */
  async storeCopy(
    record: FileRecord,
    upload: Upload,
    check: UploadCheck,
    options: { catchUp?: boolean } = {},
  ): Promise<FileRecord> {
    const received = await this.#finishUpload(upload, check);
    return await this.#withLock(record.name, async () => {
      const current = this.#records.get(record.name);
      // A catch-up moves a copy this server holds forward; if the copy went meanwhile
      // (the file was deleted while the newer version was on its way), it stays gone.
      if (options.catchUp && !current) {
        await upload.abort();
        throw new NotFoundError(record.name);
      }
      if (current && current.fileId !== record.fileId) {
        await upload.abort();
        throw new NameExistsError(record.name, 'is another file on this server');
      }
      if (current && current.version >= record.version) {
        await upload.abort();
        return publicRecord(current);
      }
      // A copy holder keeps the versions it saw, so history works with the primary down.
      const kept = current ? await this.#keepBefore(record.name, current, upload) : undefined;
      return await this.#keeping(kept, () =>
        this.#storeCopy_(record, upload, received, current, kept),
      );
    });
  }

  async #storeCopy_(
    record: FileRecord,
    upload: Upload,
    received: Received,
    current: StoredRecord | undefined,
    kept: KeptEntry | undefined,
  ): Promise<FileRecord> {
    {
      return await this.#store_(
        record.name,
        upload,
        received,
        current ? 'replace' : 'new',
        (local) => {
          const stored: StoredRecord = {
            ...record,
            size: local.size,
            sha256: received.sha256,
            ino: local.ino,
            mtimeMs: local.mtimeMs,
          };
          delete stored.available;
          return stored;
        },
        {
          buried: this.#buriedBy(record.name).map(tombstoneId),
          ...(kept ? { kept: [kept] } : {}),
        },
      );
    }
  }

  /**
   * Replaces the damaged bytes of a copy (issue 13, scrub) with good ones fetched
   * from another holder, if the file is still at the version expected: the damaged
   * bytes are kept under .lanfs/quarantine/ (never deleted), the record keeps its
   * version. Returns undefined (nothing changed) if the file moved on meanwhile.
   */
  async repairCopy(
    expected: FileRecord,
    upload: Upload,
  ): Promise<{ record: FileRecord; quarantined: string | undefined } | undefined> {
    const received = await this.#finishUpload(upload, {
      size: expected.size,
      sha256: expected.sha256,
    });
    return await this.#withLock(expected.name, async () => {
      const current = this.#records.get(expected.name);
      if (
        !current ||
        current.fileId !== expected.fileId ||
        current.version !== expected.version ||
        current.sha256 !== expected.sha256
      ) {
        await upload.abort();
        return undefined;
      }
      let quarantined: string | undefined;
      try {
        quarantined = await this.directory.quarantine(expected.name);
      } catch (err) {
        // Bytes gone altogether have nothing to keep; any other failure keeps them in place.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          await upload.abort();
          throw storageError(err, `keeping the damaged bytes of ${expected.name}`);
        }
      }
      const record = await this.#store_(expected.name, upload, received, 'replace', (local) => ({
        ...current,
        size: local.size,
        ino: local.ino,
        mtimeMs: local.mtimeMs,
      }));
      return { record, quarantined };
    });
  }

  /**
   * The durable part of a create, an edit or a copy, under the name's lock: the
   * journal entry, the bytes in place, then the record in memory. `make` builds
   * the record once the bytes' place on disk is known.
   */
  async #store_(
    name: string,
    upload: Upload,
    received: Received,
    mode: 'new' | 'replace',
    make: (local: LocalFile) => StoredRecord,
    extra: StoreChange = {},
  ): Promise<FileRecord> {
    return await this.#durably(async () => {
      let record: StoredRecord;
      if (received.bytes) {
        const bytes = received.bytes;
        // Not on disk yet: the record is written with the identity of its bytes once placed.
        record = make({ name, size: bytes.length, ino: 0, mtimeMs: 0 });
        crashPoint('journal-before-append');
        await this.#store.commit({ ...extra, put: [record] }, { sha256: received.sha256, bytes });
        crashPoint('journal-after-fsync');
        const previous = this.#records.get(name);
        const buried = this.#buriedBy(name);
        let local: LocalFile;
        try {
          local = await this.directory.placeInline(name, bytes, { replace: mode === 'replace' });
        } catch (err) {
          // The journal says the change happened: say it did not, so a restart agrees
          // (the record as it was, and the tombstone the change would have buried).
          const undo: StoreChange = previous ? { put: [previous] } : { deleted: [name] };
          if (buried.length > 0) undo.tombstones = buried;
          await this.#store
            .commit(undo)
            .catch((undoErr: unknown) =>
              this.#logger.error(
                { err: undoErr, name },
                'could not journal the undo of a failed change; a restart may show it',
              ),
            );
          throw err;
        }
        record = { ...record, ino: local.ino, mtimeMs: local.mtimeMs };
        this.#smallFiles.set(name, local.ino, bytes);
      } else {
        const { local, durable } =
          mode === 'new'
            ? await this.directory.commitNew(upload, name)
            : await this.directory.commitReplace(upload, name);
        record = make(local);
        this.#smallFiles.delete(name);
        // The folder flush and the journal entry run together; the answer waits for both.
        // A crash before the entry leaves whole bytes that the start-up scan adopts.
        await Promise.all([durable, this.#store.commit({ ...extra, put: [record] })]);
      }
      this.#openFiles.invalidate(name);
      this.#store.apply({ ...extra, put: [record] });
      this.#trace(mode === 'new' ? 'stored a new file' : 'stored a version', {
        ...extra,
        put: [record],
      });
      this.#changed(name);
      return publicRecord(record);
    });
  }

  /** Updates who holds a file (primary, copies) without touching its bytes. */
  async setPlacement(
    name: string,
    fileId: string,
    primary: number,
    replicas: number[],
  ): Promise<void> {
    await this.#withLock(name, async () => {
      const current = this.#records.get(name);
      if (!current || current.fileId !== fileId) return;
      if (
        current.primary === primary &&
        JSON.stringify(current.replicas) === JSON.stringify(replicas)
      )
        return;
      const change: StoreChange = { put: [{ ...current, primary, replicas }] };
      await this.#commitAndApply(change);
      this.#trace('placement', change);
      this.#changed(name);
    });
  }

  /**
   * Deletes the file. `pending` are the other servers that hold a copy: the
   * tombstone left behind is kept until each of them is seen without the file.
   */
  async delete(
    name: string,
    pending: number[] = [],
    options: { purge?: boolean; deletedBy?: string } = {},
  ): Promise<Tombstone> {
    return await this.#withLock(name, async () => {
      const current = this.#records.get(name);
      if (!current) throw new NotFoundError(name);
      const tombstone: Tombstone = {
        name,
        fileId: current.fileId,
        version: current.version,
        deletedAt: Date.now(),
        pending,
      };
      const kept = options.purge ? undefined : await this.#trashBefore(current, options.deletedBy);
      await this.#keeping(kept, () =>
        this.#removeDurably(name, {
          deleted: [name],
          tombstones: [tombstone],
          ...(kept ? { kept: [kept] } : {}),
        }),
      );
      return tombstone;
    });
  }

  /** The bytes of a file about to be deleted, kept in the trash. */
  async #trashBefore(current: StoredRecord, deletedBy?: string): Promise<KeptEntry> {
    return await this.versions.keep(
      'trash',
      this.directory.pathOf(current.name),
      publicRecord(current),
      deletedBy,
    );
  }

  /**
   * Applies a delete decided elsewhere (a tombstone from a peer): removes the
   * local copy if the tombstone covers it (protocol/messages.ts covers).
   * Returns true if a copy was removed.
   */
  async removeCopy(tombstone: TombstoneRef, options: { purge?: boolean } = {}): Promise<boolean> {
    return await this.#withLock(tombstone.name, async () => {
      const current = this.#records.get(tombstone.name);
      if (!current || !covers(tombstone, current)) return false;
      // A copy holder keeps the deleted file in its trash too (undelete with the primary
      // down), unless the delete was a purge.
      const kept = options.purge ? undefined : await this.#trashBefore(current);
      await this.#keeping(kept, () =>
        this.#removeDurably(tombstone.name, {
          deleted: [tombstone.name],
          ...(kept ? { kept: [kept] } : {}),
        }),
      );
      return true;
    });
  }

  /**
   * The journal entry first, then the bytes go: a crash between the two is
   * finished by the replay, which removes the bytes the journal says are gone.
   */
  async #removeDurably(name: string, change: StoreChange): Promise<void> {
    await this.#durably(async () => {
      crashPoint('journal-before-append');
      await this.#store.commit(change);
      crashPoint('journal-after-fsync');
      this.#openFiles.invalidate(name);
      this.#smallFiles.delete(name);
      try {
        await this.directory.removeLazily(name);
      } catch (err) {
        // The delete is durable; the bytes left behind are listed again at the next
        // start (as a new file), never served as this one.
        this.#logger.error({ err, name }, 'could not remove the bytes of a deleted file');
      }
      crashPoint('delete-after-unlink');
      this.#store.apply(change);
      this.#trace('removed', change);
      this.#changed(name);
    });
  }

  /**
   * Moves the loser of a conflict to a new name (a new file, marked as such), so
   * its bytes are kept and the winner keeps the name.
   */
  async moveToConflictName(name: string, fileId: string, newName: string): Promise<void> {
    await this.#withLock(name, async () => {
      const current = this.#records.get(name);
      if (!current || current.fileId !== fileId || this.#records.has(newName)) return;
      await this.#durably(async () => await this.#move(current, newName));
    });
  }

  /** The move itself; a checkpoint waits for it (its bytes are flushed under the new name). */
  async #move(current: StoredRecord, newName: string): Promise<void> {
    const name = current.name;
    const local = await this.directory.move(name, newName);
    this.#openFiles.invalidate(name);
    this.#smallFiles.delete(name);
    const moved: StoredRecord = {
      ...current,
      name: newName,
      conflictOf: name,
      ino: local.ino,
      mtimeMs: local.mtimeMs,
    };
    const change: StoreChange = { put: [moved], deleted: [name] };
    await this.#store.commit(change);
    this.#store.apply(change);
    this.#trace('moved to its conflict name', change);
    this.#changed(name);
    this.#changed(newName);
  }

  /**
   * The tombstone a new file of name buries: only one no former holder still waits
   * for. One still pending stays next to the new record, or a holder down during the
   * delete would bring its copy of the deleted file back (found by the torture run).
   */
  #buriedBy(name: string): Tombstone[] {
    const ofName = this.#tombstones.get(name);
    return ofName ? [...ofName.values()].filter((t) => t.pending.length === 0) : [];
  }

  /** The tombstones this server keeps (deletes it decided that some holder has not yet seen). */
  tombstones(): Tombstone[] {
    return [...this.#tombstones.values()].flatMap((ofName) => [...ofName.values()]);
  }

  /** The tombstones of name here: one per deleted file of that name not yet settled. */
  tombstonesOf(name: string): Tombstone[] {
    const ofName = this.#tombstones.get(name);
    return ofName ? [...ofName.values()] : [];
  }

  /** Servers seen without the file: they no longer hold it. Buries the tombstone when none is left. */
  async settleTombstone(which: TombstoneId, seenWithout: number[]): Promise<void> {
    const tombstone = this.#tombstones.get(which.name)?.get(which.fileId);
    if (!tombstone) return;
    const pending = tombstone.pending.filter((id) => !seenWithout.includes(id));
    if (pending.length === tombstone.pending.length) return;
    const change: StoreChange =
      pending.length === 0
        ? { buried: [tombstoneId(tombstone)] }
        : { tombstones: [{ ...tombstone, pending }] };
    await this.#commitAndApply(change);
    this.#trace('tombstone settled', change);
    this.#changed(which.name);
  }

  /**
   * More servers a tombstone waits for: ones that may hold a copy of the deleted file
   * though no record says so (a copy whose END got no answer: the holder died after
   * storing it, or before). Under the name's lock, so a create of the name queued
   * after the delete finds them pending and leaves the tombstone in place. False if
   * the tombstone is gone already (buried).
   */
  async addPending(which: TombstoneId, ids: number[]): Promise<boolean> {
    return await this.#withLock(which.name, async () => {
      const tombstone = this.#tombstones.get(which.name)?.get(which.fileId);
      if (!tombstone) return false;
      const pending = [...new Set([...tombstone.pending, ...ids])].sort((a, b) => a - b);
      if (pending.length === tombstone.pending.length) return true;
      const change: StoreChange = { tombstones: [{ ...tombstone, pending }] };
      await this.#commitAndApply(change);
      this.#trace('tombstone waits for more servers', change);
      this.#changed(which.name);
      return true;
    });
  }

  /**
   * Checkpoint: a snapshot of the records, after every file written since the
   * last one is flushed, lets the journal start afresh. Runs on its own when the
   * journal passes its bound, and at stop.
   */
  async checkpoint(): Promise<void> {
    await this.#store.checkpoint(async () => {
      // Every change already in the old segment is in this set: wait until its bytes are placed.
      await Promise.allSettled([...this.#inflight]);
      await this.directory.flushUnsynced();
    });
  }

  #checkpointIfWorth(force = false): void {
    const bytes = this.#store.journalBytes;
    // The scan checkpoints once at its end: a snapshot rewritten whole every 64 MiB of
    // its batches made a first scan of 1,000,000 files write five of them.
    if (bytes === 0 || this.#scanRunning) return;
    // The snapshot is rewritten whole: only when the journal is a fair share of it,
    // so a checkpoint's cost stays proportional to the changes it covers.
    if (!force && bytes < this.#checkpointBytes && bytes < this.#store.snapshotBytes / 4) return;
    this.checkpoint().catch((err: unknown) =>
      this.#logger.warn({ err }, 'checkpoint failed; the journal keeps every change meanwhile'),
    );
  }

  /**
   * One line per change of a file or tombstone, at debug level (off by default): the
   * identities (fileId, version, primary, copies, pending holders) a torture trace
   * follows a file by (bench/torture.ts --log-dir).
   */
  #trace(what: string, change: StoreChange): void {
    if (!this.#logger.isLevelEnabled('debug')) return;
    this.#logger.debug(
      {
        component: 'catalog',
        put: change.put?.map((r) => ({
          name: r.name,
          fileId: r.fileId,
          version: r.version,
          primary: r.primary,
          replicas: r.replicas,
        })),
        deleted: change.deleted,
        tombstones: change.tombstones?.map((t) => ({
          name: t.name,
          fileId: t.fileId,
          version: t.version,
          pending: t.pending,
        })),
        buried: change.buried,
      },
      what,
    );
  }

  async #commitAndApply(change: StoreChange): Promise<void> {
    await this.#durably(async () => {
      await this.#store.commit(change);
      this.#store.apply(change);
    });
  }

  /** Runs a change while a checkpoint can see it is in flight, then looks whether one is due. */
  async #durably<T>(work: () => Promise<T>): Promise<T> {
    const running = work();
    this.#inflight.add(running);
    try {
      return await running;
    } finally {
      this.#inflight.delete(running);
      if (this.#store.journalBytes >= this.#checkpointBytes) this.#checkpointIfWorth(true);
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#scanning?.catch(() => undefined);
    clearInterval(this.#checkpointTimer);
    await this.#pruning;
    await this.checkpoint().catch((err: unknown) =>
      this.#logger.warn({ err }, 'final checkpoint failed; the journal is replayed at next start'),
    );
    await this.#openFiles.close();
    await this.directory.close();
    await this.#store.close();
  }

  /** Puts on disk what the journal says a file's bytes are (a restart after a crash). */
  async #replayFiles(files: ReplayedFile[]): Promise<void> {
    for (const file of files) {
      if (file.kind === 'absent') {
        try {
          await this.directory.removeLazily(file.name);
        } catch (err) {
          // Bytes the journal says are deleted but that cannot be removed: the scan
          // lists them as found (never as the deleted file); starting matters more.
          this.#logger.warn({ err, name: file.name }, 'could not remove a deleted file at start');
        }
        continue;
      }
      const local = await this.directory.placeInline(file.name, file.bytes, {
        replace: true,
        durable: true,
      });
      const record = this.#records.get(file.name)!;
      this.#records.set(file.name, { ...record, ino: local.ino, mtimeMs: local.mtimeMs });
    }
  }

  async #finishUpload(upload: Upload, check: UploadCheck): Promise<Received> {
    // On any failure the temp file is removed, so nothing half-received stays behind.
    let received: Received;
    try {
      received = await upload.finish();
    } catch (err) {
      await upload.abort();
      throw storageError(err, 'saving the upload');
    }
    if (check.size !== null && received.size !== check.size) {
      await upload.abort();
      throw new ChecksumMismatchError(
        `The upload was announced as ${check.size} bytes but ${received.size} arrived; nothing was stored.`,
      );
    }
    if (check.sha256 !== undefined && received.sha256 !== check.sha256) {
      await upload.abort();
      throw new ChecksumMismatchError(
        'The uploaded bytes do not match their sha256 (damaged in transit); nothing was stored, try again.',
      );
    }
    return received;
  }

  #recordFor(
    local: LocalFile,
    sha256: string,
    version: number,
    modifiedAt: number,
    fileId: string,
  ): StoredRecord {
    return {
      name: local.name,
      fileId,
      size: local.size,
      sha256,
      version,
      primary: this.serverId,
      replicas: [],
      modifiedAt,
      ino: local.ino,
      mtimeMs: local.mtimeMs,
    };
  }

  async #withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(name, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(name) === next) this.#locks.delete(name);
    }
  }

  /**
   * Makes the records match the disk. A file whose size, inode and mtime match its
   * record keeps its stored sha256 (so a restart of 100k files hashes nothing);
   * others are hashed, hashConcurrency at a time while the walk goes on: new files
   * are adopted as version 1, changed ones get the next version, and records whose
   * bytes vanished are dropped. What is found is committed in batches as the scan
   * goes (#commitScanned), so the peers of a server that has joined its cluster see
   * the files long before the scan ends, and a crash keeps what was announced.
   *
   * The server may change files meanwhile (copies from peers, deletes): a name it
   * has changed since the scan looked is left to that change, never overwritten.
   */
  async #reconcile(hashConcurrency: number): Promise<Omit<ScanReport, 'removedTempFiles'>> {
    const seen = new Set<string>();
    /** Names the server changed while the scan ran: never counted as vanished. */
    const touched = new Set<string>();
    const noteTouched = (name: string): void => {
      if (!seen.has(name)) touched.add(name); // a name seen is not a vanished one anyway
    };
    this.#changeListeners.push(noteTouched);
    const report = { hashed: 0, adopted: 0, changed: 0, skipped: 0 };
    let batch: Scanned[] = [];
    let batchSince = 0;
    let committing: Promise<void> = Promise.resolve();
    let batchesWaiting = 0;
    const commitBatch = (): void => {
      const scanned = batch;
      batch = [];
      batchesWaiting++;
      committing = committing
        .then(async () => await this.#commitScanned(scanned, report))
        .finally(() => batchesWaiting--);
    };
    const hashing = new Set<Promise<void>>();
    const scratch = Array.from({ length: hashConcurrency }, () =>
      Buffer.allocUnsafe(SCAN_HASH_PIECE_BYTES),
    );
    let failed: Error | undefined;
    const hashOne = async (found: LocalFile, before: StoredRecord | undefined): Promise<void> => {
      const buffer = scratch.pop()!;
      try {
        const { sha256, file } = await this.directory.hashLocal(found.name, buffer);
        batch.push({ file, sha256, before });
        batchSince ||= Date.now();
      } catch (err) {
        // Gone between the walk and the hash: not there (a record of it has vanished).
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') seen.delete(found.name);
        else failed ??= err as Error;
      } finally {
        scratch.push(buffer);
      }
    };
    try {
      for await (const file of this.directory.walk((path, reason) => {
        report.skipped++;
        this.#logger.warn({ path }, `not listing ${path}: ${reason}`);
      })) {
        if (this.#closing) throw new StorageError('The server stopped during its start-up scan.');
        if (failed !== undefined) throw failed;
        seen.add(file.name);
        const record = this.#records.get(file.name);
        if (
          record &&
          record.size === file.size &&
          record.ino === file.ino &&
          record.mtimeMs === file.mtimeMs
        )
          continue;
        report.hashed++;
        const running: Promise<void> = hashOne(file, record).finally(() => hashing.delete(running));
        hashing.add(running);
        if (hashing.size >= hashConcurrency) await Promise.race(hashing);
        if (
          batch.length >= SCAN_BATCH_RECORDS ||
          (batch.length > 0 && Date.now() - batchSince >= SCAN_BATCH_MS)
        ) {
          batchSince = 0;
          commitBatch();
          if (batchesWaiting >= SCAN_BATCHES_WAITING) await committing;
        }
      }
      await Promise.all(hashing);
      if (failed !== undefined) throw failed;
      if (batch.length > 0) commitBatch();
      await committing;
      // Only records the scan saw at its start can have vanished; a change of the
      // server's own in flight, or done meanwhile, is newer than the scan.
      const vanished: StoredRecord[] = [];
      for (const [name, record] of this.#records)
        if (!seen.has(name) && !touched.has(name) && !this.#locks.has(name)) vanished.push(record);
      const dropped = this.#dropVanished(vanished);
      return {
        files: this.#records.size,
        hashed: report.hashed,
        adopted: report.adopted,
        changed: report.changed,
        vanished: dropped,
        skipped: report.skipped,
      };
    } finally {
      // A failed scan leaves no hash running and no batch half committed behind it.
      await Promise.allSettled(hashing);
      await committing.catch(() => undefined);
      this.#changeListeners.splice(this.#changeListeners.indexOf(noteTouched), 1);
    }
  }

  /**
   * Commits what the scan found, in one journal entry: adopted files, verified ones
   * (new identity, same bytes) and ones changed outside lanfs (the next version). A
   * name whose record moved on since the scan looked, or with a change of the
   * server's in flight, is left out. The names stay locked until the entry is
   * durable, so a change that comes meanwhile is journaled after it.
   */
  async #commitScanned(
    scanned: Scanned[],
    report: { adopted: number; changed: number },
  ): Promise<void> {
    const put: StoredRecord[] = [];
    for (const { file, sha256, before } of scanned) {
      if (this.#locks.has(file.name) || this.#records.get(file.name) !== before) continue;
      if (!before) {
        report.adopted++;
        put.push(this.#recordFor(file, sha256, 1, Date.now(), newFileId()));
      } else if (before.sha256 === sha256) {
        put.push({ ...before, size: file.size, ino: file.ino, mtimeMs: file.mtimeMs });
      } else {
        report.changed++;
        put.push({
          ...this.#recordFor(file, sha256, before.version + 1, Date.now(), before.fileId),
          primary: before.primary,
          replicas: before.replicas,
          lineage: nextLineage(before),
        });
      }
    }
    await this.#commitLocked(
      put.map((r) => r.name),
      { put },
    );
  }

  /**
   * Drops the records whose bytes the scan did not find (unless changed meanwhile), in
   * memory only: the scan's checkpoint makes it durable. Not journaled, because the
   * replay of a journaled delete removes the bytes of that name, and a file put there
   * by hand after the scan must not go if the server crashes before the checkpoint
   * (the next scan finds the bytes gone again anyway).
   */
  #dropVanished(vanished: StoredRecord[]): number {
    const deleted = vanished
      .filter((r) => !this.#locks.has(r.name) && this.#records.get(r.name) === r)
      .map((r) => r.name);
    if (deleted.length === 0) return 0;
    this.#store.apply({ deleted });
    for (const name of deleted) this.#changed(name);
    return deleted.length;
  }

  /** Commits change with names locked until it is durable and applied, then tells the listeners. */
  async #commitLocked(names: string[], change: StoreChange): Promise<void> {
    if (names.length === 0) return;
    const committing = this.#durably(async () => {
      await this.#store.commit(change);
      this.#store.apply(change);
    });
    for (const name of names) this.#locks.set(name, committing);
    try {
      await committing;
    } finally {
      for (const name of names) if (this.#locks.get(name) === committing) this.#locks.delete(name);
    }
    for (const name of names) this.#changed(name);
  }
}

/** A file the scan hashed, and the record it had when the scan looked (if any). */
interface Scanned {
  file: LocalFile;
  sha256: string;
  before: StoredRecord | undefined;
}

/** All size bytes of a small file, from its start. */
async function readWhole(handle: FileHandle, size: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(size);
  let read = 0;
  while (read < size) {
    const { bytesRead } = await handle.read(bytes, read, size - read, read);
    if (bytesRead === 0) break; // shorter than its record: the receiver's check says so
    read += bytesRead;
  }
  return read === size ? bytes : bytes.subarray(0, read);
}

/** Opens kept bytes for reading, never through a symbolic link. */
async function openKeptFile(path: string): Promise<{ handle: FileHandle }> {
  try {
    return { handle: await open(path, constants.O_RDONLY | constants.O_NOFOLLOW) };
  } catch (err) {
    throw storageError(err, 'reading a kept version');
  }
}

/**
 * The copies of a file after an edit here: the primary it had stays among them when
 * this server takes over. It holds the file (an older version, caught up when it is
 * back), though maybe unknown to every view: a primary killed right after a create
 * acknowledged may die before its record went out. Left out, the next delete did not
 * wait for it, and it came back with the deleted file (a torture wrong read).
 */
function withFormerPrimary(current: StoredRecord, serverId: number): number[] {
  if (current.primary === serverId || current.replicas.includes(current.primary))
    return current.replicas;
  return [...current.replicas, current.primary].sort((a, b) => a - b);
}

/**
 * A new file's id. A create with a request id gets one derived from it and the name,
 * so a replay on another server (its first server died before answering, maybe after
 * storing it) makes the same file, not a second one that the first would later rival.
 */
export function newFileId(create?: { name: string; requestId?: string }): string {
  if (create?.requestId === undefined) return randomBytes(8).toString('hex');
  return createHash('sha256')
    .update(`${create.name}\n${create.requestId}`)
    .digest('hex')
    .slice(0, 16);
}

function publicRecord(record: StoredRecord): FileRecord {
  const { ino: _ino, mtimeMs: _mtimeMs, ...rest } = record;
  return rest;
}

function tombstoneId(tombstone: Tombstone): TombstoneId {
  return { name: tombstone.name, fileId: tombstone.fileId };
}
