/**
 * The files this server holds: their records (kept durably in the StateStore and
 * in memory for lookups) and their bytes (in the DataDirectory), changed together
 * so that a record never points at missing bytes. It is the storage logic of one
 * server and knows nothing of sockets or peers: the server feeds it finished
 * uploads and asks it for files.
 *
 * The order of a create: temp file written and fsynced → linked into place →
 * folder fsynced → record committed (fsync) → only then acknowledged. A crash
 * before the link leaves only a temp file (removed at start); after it, the
 * start-up scan finds the bytes and adopts them.
 */
import { randomBytes } from 'node:crypto';
import type { FileRecord } from '../protocol/messages.ts';
import { crashPoint } from '../shared/crash-points.ts';
import {
  ChecksumMismatchError,
  StorageError,
  ConfigError,
  EditConflictError,
  NameExistsError,
  NotFoundError,
} from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { DataDirectory, storageError, type LocalFile, type Upload } from './data-directory.ts';
import { OpenFileCache, type OpenFile } from './open-file-cache.ts';
import { StateStore, type StoredRecord, type Tombstone } from './state-store.ts';

export interface LocalCatalogOptions {
  /** The exported directory. */
  root: string;
  /** The server id; required the first time the directory is used, then must match. */
  serverId?: number;
  logger: Logger;
  /** How many files the start-up scan hashes at once. Default 4. */
  hashConcurrency?: number;
}

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
  sha256: string;
}

export class LocalCatalog {
  readonly serverId: number;
  readonly directory: DataDirectory;
  readonly #store: StateStore;
  readonly #logger: Logger;
  readonly #records = new Map<string, StoredRecord>();
  /** Names with a create in flight: claimed, so a second create of one name fails at once. */
  readonly #reserved = new Set<string>();
  /** Per-name chain of changes, so an edit and a delete of one name never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #openFiles: OpenFileCache;
  readonly #changeListeners: ((name: string) => void)[] = [];
  readonly #tombstones = new Map<string, Tombstone>();

  private constructor(
    serverId: number,
    directory: DataDirectory,
    store: StateStore,
    logger: Logger,
  ) {
    this.serverId = serverId;
    this.directory = directory;
    this.#store = store;
    this.#logger = logger;
    this.#openFiles = new OpenFileCache((name) => directory.openForRead(name));
  }

  /** Opens the data directory, checks the server id and reconciles records with the disk. */
  static async open(
    options: LocalCatalogOptions,
  ): Promise<{ catalog: LocalCatalog; scan: ScanReport }> {
    const directory = new DataDirectory(options.root);
    const { removedTempFiles } = await directory.init();
    const store = StateStore.open(directory.stateDir);
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
        store.setMeta('serverId', String(serverId));
      } else {
        serverId = Number(stored);
        if (options.serverId !== undefined && options.serverId !== serverId) {
          throw new ConfigError(
            `${directory.root} belongs to server ${serverId}, not ${options.serverId}: start it with --id ${serverId} or use another --data folder.`,
          );
        }
      }
      const catalog = new LocalCatalog(serverId, directory, store, options.logger);
      const scan = await catalog.#reconcile(options.hashConcurrency ?? 4);
      return { catalog, scan: { ...scan, removedTempFiles } };
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /** Called after every committed create, edit or delete, with the file's name. */
  onChange(listener: (name: string) => void): void {
    this.#changeListeners.push(listener);
  }

  #changed(name: string): void {
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

  /** Server state kept beside the records (e.g. the members this server has seen). */
  getMeta(key: string): string | undefined {
    return this.#store.getMeta(key);
  }

  setMeta(key: string, value: string): void {
    this.#store.setMeta(key, value);
  }

  /**
   * Opens name for reading, with the record that describes exactly the bytes
   * behind the descriptor (an edit in between is waited out, never mixed in).
   * The caller must call release() when done.
   */
  async openFile(name: string): Promise<{ record: FileRecord } & OpenFile> {
    for (let attempt = 0; ; attempt++) {
      const record = this.#records.get(name);
      if (!record) throw new NotFoundError(name);
      const open = await this.#openFiles.acquire(name);
      if (open.file.ino === record.ino && open.file.size === record.size)
        return { record: publicRecord(record), ...open };
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
    identity: { fileId?: string; replicas?: number[]; requestId?: string } = {},
  ): Promise<FileRecord> {
    const received = await this.#finishUpload(upload, check);
    crashPoint('create-after-temp-fsync');
    return await this.#withLock(name, async () => {
      const { local, durable } = await this.directory.commitNew(upload, name);
      const record = {
        ...this.#recordFor(local, received.sha256, 1, Date.now(), identity.fileId ?? newFileId()),
        replicas: identity.replicas ?? [],
        requestId: identity.requestId,
      };
      // The folder flush and the record commit run together; the answer waits for both.
      // Either order of the two surviving a crash is one the start-up scan repairs.
      await Promise.all([
        durable,
        this.#store.commit({ put: [record], buried: this.#buryIfAny(name) }),
      ]);
      this.#records.set(name, record);
      crashPoint('create-after-record');
      this.#changed(name);
      return publicRecord(record);
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
      const { local, durable } = await this.directory.commitReplace(upload, name);
      this.#openFiles.invalidate(name);
      const record = {
        ...this.#recordFor(local, received.sha256, baseVersion + 1, Date.now(), current.fileId),
        replicas: current.replicas,
        requestId,
      };
      await Promise.all([durable, this.#store.commit({ put: [record] })]);
      this.#records.set(name, record);
      this.#changed(name);
      return publicRecord(record);
    });
  }

  /**
   * Stores a version of a file sent by its primary (a copy, or a new version of
   * one). Never replaces a newer version by an older one: an older or equal
   * version is dropped and the current record returned. A different file of the
   * same name (another fileId) is refused with NameExists.
   */
  async storeCopy(record: FileRecord, upload: Upload, check: UploadCheck): Promise<FileRecord> {
    const received = await this.#finishUpload(upload, check);
    return await this.#withLock(record.name, async () => {
      const current = this.#records.get(record.name);
      if (current && current.fileId !== record.fileId) {
        await upload.abort();
        throw new NameExistsError(record.name, 'is another file on this server');
      }
      if (current && current.version >= record.version) {
        await upload.abort();
        return publicRecord(current);
      }
      const { local, durable } = current
        ? await this.directory.commitReplace(upload, record.name)
        : await this.directory.commitNew(upload, record.name);
      this.#openFiles.invalidate(record.name);
      const stored: StoredRecord = {
        ...record,
        size: local.size,
        sha256: received.sha256,
        ino: local.ino,
        mtimeMs: local.mtimeMs,
      };
      delete stored.available;
      await Promise.all([
        durable,
        this.#store.commit({ put: [stored], buried: this.#buryIfAny(record.name) }),
      ]);
      this.#records.set(record.name, stored);
      this.#changed(record.name);
      return publicRecord(stored);
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
      const record = { ...current, primary, replicas };
      await this.#store.commit({ put: [record] });
      this.#records.set(name, record);
      this.#changed(name);
    });
  }

  /**
   * Deletes the file. `pending` are the other servers that hold a copy: the
   * tombstone left behind is kept until each of them is seen without the file.
   */
  async delete(name: string, pending: number[] = []): Promise<Tombstone> {
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
      // Bytes first, then the record: a crash between the two leaves a record
      // without bytes, which the start-up scan drops; the other order would leave
      // bytes without a record, which the scan would adopt (the file comes back).
      await this.directory.remove(name);
      this.#openFiles.invalidate(name);
      await this.#store.commit({ deleted: [name], tombstones: [tombstone] });
      this.#records.delete(name);
      this.#tombstones.set(name, tombstone);
      this.#changed(name);
      return tombstone;
    });
  }

  /**
   * Applies a delete decided elsewhere (a tombstone from a peer): removes the
   * local copy if it is the same file at the tombstone's version or older.
   * Returns true if a copy was removed.
   */
  async removeCopy(tombstone: Tombstone): Promise<boolean> {
    return await this.#withLock(tombstone.name, async () => {
      const current = this.#records.get(tombstone.name);
      if (!current || current.fileId !== tombstone.fileId || current.version > tombstone.version)
        return false;
      await this.directory.remove(tombstone.name);
      this.#openFiles.invalidate(tombstone.name);
      await this.#store.commit({ deleted: [tombstone.name] });
      this.#records.delete(tombstone.name);
      this.#changed(tombstone.name);
      return true;
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
      const local = await this.directory.move(name, newName);
      this.#openFiles.invalidate(name);
      const moved: StoredRecord = {
        ...current,
        name: newName,
        conflictOf: name,
        ino: local.ino,
        mtimeMs: local.mtimeMs,
      };
      await this.#store.commit({ put: [moved], deleted: [name] });
      this.#records.delete(name);
      this.#records.set(newName, moved);
      this.#changed(name);
      this.#changed(newName);
    });
  }

  /** The tombstones this server keeps (deletes it decided that some holder has not yet seen). */
  tombstones(): Tombstone[] {
    return [...this.#tombstones.values()];
  }

  /** Servers seen without the file: they no longer hold it. Buries the tombstone when none is left. */
  async settleTombstone(name: string, seenWithout: number[]): Promise<void> {
    const tombstone = this.#tombstones.get(name);
    if (!tombstone) return;
    const pending = tombstone.pending.filter((id) => !seenWithout.includes(id));
    if (pending.length === tombstone.pending.length) return;
    if (pending.length === 0) {
      this.#tombstones.delete(name);
      await this.#store.commit({ buried: [name] });
    } else {
      const updated = { ...tombstone, pending };
      this.#tombstones.set(name, updated);
      await this.#store.commit({ tombstones: [updated] });
    }
    this.#changed(name);
  }

  #buryIfAny(name: string): string[] {
    if (!this.#tombstones.has(name)) return [];
    this.#tombstones.delete(name);
    return [name];
  }

  async close(): Promise<void> {
    await this.#openFiles.close();
    await this.directory.close();
    this.#store.close();
  }

  async #finishUpload(
    upload: Upload,
    check: UploadCheck,
  ): Promise<{ size: number; sha256: string }> {
    // On any failure the temp file is removed, so nothing half-received stays behind.
    let received: { size: number; sha256: string };
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
    if (received.sha256 !== check.sha256) {
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
   * others are hashed: new files are adopted as version 1, changed ones get the
   * next version, and records whose bytes vanished are dropped.
   */
  async #reconcile(hashConcurrency: number): Promise<Omit<ScanReport, 'removedTempFiles'>> {
    for (const record of this.#store.loadRecords()) this.#records.set(record.name, record);
    for (const tombstone of this.#store.loadTombstones())
      this.#tombstones.set(tombstone.name, tombstone);
    const seen = new Set<string>();
    const toHash: LocalFile[] = [];
    let skipped = 0;
    for await (const file of this.directory.walk((path, reason) => {
      skipped++;
      this.#logger.warn({ path }, `not listing ${path}: ${reason}`);
    })) {
      seen.add(file.name);
      const record = this.#records.get(file.name);
      if (
        !record ||
        record.size !== file.size ||
        record.ino !== file.ino ||
        record.mtimeMs !== file.mtimeMs
      )
        toHash.push(file);
    }
    const put: StoredRecord[] = [];
    let adopted = 0;
    let changed = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < toHash.length) {
        const file = toHash[next++]!;
        const sha256 = await this.directory.hash(file.name);
        const record = this.#records.get(file.name);
        if (!record) {
          adopted++;
          put.push(this.#recordFor(file, sha256, 1, Date.now(), newFileId()));
        } else if (record.sha256 === sha256) {
          put.push({ ...record, size: file.size, ino: file.ino, mtimeMs: file.mtimeMs });
        } else {
          changed++;
          put.push({
            ...this.#recordFor(file, sha256, record.version + 1, Date.now(), record.fileId),
            primary: record.primary,
            replicas: record.replicas,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: hashConcurrency }, worker));
    const vanished = [...this.#records.keys()].filter((name) => !seen.has(name));
    this.#store.applyNow({ put, deleted: vanished });
    for (const record of put) this.#records.set(record.name, record);
    for (const name of vanished) this.#records.delete(name);
    return {
      files: this.#records.size,
      hashed: toHash.length,
      adopted,
      changed,
      vanished: vanished.length,
      skipped,
    };
  }
}

export function newFileId(): string {
  return randomBytes(8).toString('hex');
}

function publicRecord(record: StoredRecord): FileRecord {
  const { ino: _ino, mtimeMs: _mtimeMs, ...rest } = record;
  return rest;
}
