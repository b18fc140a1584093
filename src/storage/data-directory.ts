/**
 * The exported directory of one server (SPEC §2.1): where a file's bytes live
 * (DIR/NAME), and the only code that touches them. Every write goes to a temp
 * file under DIR/.lanfs/tmp, is flushed (fsync), and is then linked or renamed
 * into place and the folder flushed, so a reader sees the old bytes or the new,
 * never a torn file. Paths are built only from validated names, re-checked to
 * stay under DIR, and symbolic links are never followed.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import {
  lstat,
  link,
  mkdir,
  open,
  opendir,
  readdir,
  realpath,
  rename,
  rm,
  rmdir,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { STATE_DIR_NAME, validateName } from '../protocol/file-name.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { InvalidNameError, LanfsError, NameExistsError, StorageError } from '../shared/errors.ts';
import { DirectWriter } from './direct-writer.ts';
import { DiskFaultInjector, diskFaultsFromEnv } from './disk-faults.ts';
import { InlineWriter } from './inline-writer.ts';

export const TEMP_DIR_NAME = 'tmp';
/** Under .lanfs: damaged copies the scrubber replaced, kept for a person to look at. */
export const QUARANTINE_DIR_NAME = 'quarantine';

/** Where a file's bytes are on disk, and which bytes they are. */
export interface LocalFile {
  name: string;
  size: number;
  ino: number;
  mtimeMs: number;
}

/** A temp file opened for an upload or a small file's bytes. */
interface TempFile {
  tempPath: string;
  handle: FileHandle;
}

/** The piece hashLocal reads at a time. */
const HASH_PIECE_BYTES = 256 * 1024;
/** Files of one folder the walk looks up (lstat) at once. */
const WALK_STATS_AT_ONCE = 64;

/** Flushes a checkpoint runs at once (each takes one I/O thread). */
const FLUSHES_AT_ONCE = 8;

/** A file just put in place, and the promise that it survives a crash. */
export interface Placed {
  local: LocalFile;
  durable: Promise<void>;
}

/** Turn a file-system error into one a user can act on. */
export function storageError(err: unknown, action: string): LanfsError {
  if (err instanceof LanfsError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StorageError(
      `The server's disk is full while ${action}; free some space on it and try again.`,
      { cause: err },
      'LANFS_ERR_DISK_FULL',
    );
  }
  if (code === 'EROFS')
    return new StorageError(`The server's disk is read-only while ${action}.`, { cause: err });
  return new StorageError(
    `The server could not finish ${action} (${code ?? (err as Error).message}).`,
    { cause: err },
  );
}

/** Temp files kept open ahead of need (see beginUpload). */
const SPARE_UPLOADS = 4;
/** How many received bytes may wait for the disk before write() makes its caller wait. */
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;
/**
 * A large upload written through the page cache (where direct writes are refused,
 * see direct-writer.ts) has its written bytes flushed to the disk (fdatasync, on the thread
 * pool, while more arrive) each time this many have piled up since the last flush
 * began. The page cache would otherwise hold them all until finish(), whose one
 * fsync then writes the whole file while the client waits, and a copy holder's after
 * the primary's (about 0.3 s per 512 MiB here, twice, one after the other).
 */
const SYNC_AHEAD_BYTES = 32 * 1024 * 1024;
/**
 * Files up to this size are kept in memory while they arrive and go into the
 * journal with their record (one shared flush instead of a flush of their own).
 */
export const INLINE_MAX_BYTES = 64 * 1024;
/** At most this many bytes of all uploads at once are held in memory; past it they spill to disk. */
const INLINE_BUDGET_BYTES = 64 * 1024 * 1024;

/** What a finished upload holds: its size and sha256, and the bytes themselves if small. */
export interface Received {
  size: number;
  sha256: string;
  /** Set for a file of at most INLINE_MAX_BYTES: nothing was written to disk yet. */
  bytes?: Buffer;
}

/** Shares INLINE_BUDGET_BYTES between uploads. */
class InlineBudget {
  #used = 0;
  take(bytes: number): boolean {
    if (this.#used + bytes > INLINE_BUDGET_BYTES) return false;
    this.#used += bytes;
    return true;
  }
  give(bytes: number): void {
    this.#used -= bytes;
  }
}

/**
 * A file being received, hashed as it arrives. A small file stays in memory
 * (its bytes go into the journal); once it passes INLINE_MAX_BYTES it spills to a
 * temp file, and then writes run behind the caller (past the page cache in
 * aligned 1 MiB writes, else several chunks gathered into one writev) so the
 * network and the disk work at the same time; write() only waits when more than
 * WRITE_BEHIND_BYTES are queued, which is the backpressure the caller passes on.
 */
export class Upload {
  readonly #openTemp: () => Promise<{ tempPath: string; handle: FileHandle }>;
  readonly #budget: InlineBudget;
  #temp: Promise<{ tempPath: string; handle: FileHandle }> | undefined;
  #tempPath: string | undefined;
  /** Writes the spilled bytes past the page cache, when the file system allows it. */
  #direct: Promise<DirectWriter | undefined> | undefined;
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #done = false;
  /** The bytes while the upload is small enough to stay in memory; undefined once spilled. */
  #inline: Buffer[] | undefined = [];
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #flushing: Promise<void> | undefined;
  /** Bytes written since the last early flush began (SYNC_AHEAD_BYTES). */
  #unsyncedBytes = 0;
  /** The early flush under way, if any (never rejects: the error is kept). */
  #syncingAhead: Promise<void> | undefined;
  #error: Error | undefined;
  /** Set by leaveHashToCopies(): once spilled, the bytes are not hashed as they arrive. */
  #hashLeftToCopies = false;
  #unhashed = false;
  /** The sha256 a copy vouched for (vouch()), when the bytes were not hashed here. */
  #vouched: string | undefined;
  /** The file read back and hashed as it is written (hashFromDisk), once started. */
  #diskHash: Promise<string> | undefined;
  /** Bytes written to the temp file through the page cache (the direct writer counts its own). */
  #writtenBytes = 0;
  /** Every byte is in the temp file (finish() wrote the last ones). */
  #allWritten = false;
  /** Waiting for more bytes to reach the temp file, or for its end (or an error). */
  #progressWaiters: (() => void)[] = [];

  readonly #directIo: boolean;

  constructor(
    openTemp: () => Promise<{ tempPath: string; handle: FileHandle }>,
    budget: InlineBudget,
    directIo: boolean,
  ) {
    this.#openTemp = openTemp;
    this.#budget = budget;
    this.#directIo = directIo;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * A primary streaming this upload to copies: past INLINE_MAX_BYTES it stops hashing
   * the bytes as they arrive, because a copy hashes the very bytes forwarded to it and
   * can vouch for them (vouch()). Where none does, finish() reads the written file back
   * and hashes that instead. Saves one sha256 pass over every large file on the primary.
   */
  leaveHashToCopies(): void {
    this.#hashLeftToCopies = true;
  }

  /** True once the bytes are no longer hashed here (see leaveHashToCopies). */
  get unhashed(): boolean {
    return this.#unhashed;
  }

  /** The sha256 of exactly these bytes, as a copy that received them computed it. */
  vouch(sha256: string): void {
    this.#vouched = sha256;
  }

  /**
   * No copy can vouch any more (all failed): starts hashing the temp file, read back
   * just behind the writes, so finish() waits only for the last few megabytes instead
   * of reading the whole file again while the client waits. Idempotent.
   */
  hashFromDisk(): void {
    if (!this.#unhashed || this.#diskHash) return;
    this.#diskHash = this.#readBackHash();
    this.#diskHash.catch(() => undefined); // seen by finish()
  }

  /** Size and sha256 of the bytes received so far (a copy's REPLICA_SUM); null if not hashed. */
  sumSoFar(): { size: number; sha256: string | null } {
    return {
      size: this.#size,
      sha256: this.unhashed ? null : this.#hash.copy().digest('hex'),
    };
  }

  /** The temp file holding the bytes (only for an upload that spilled to disk). */
  get tempPath(): string {
    if (this.#tempPath === undefined) throw new Error('this upload is held in memory');
    return this.#tempPath;
  }

  /** Append a chunk (in call order). Rejects if an earlier write failed. */
  async write(chunk: Buffer): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (!this.unhashed) this.#hash.update(chunk);
    this.#size += chunk.length;
    if (this.#inline) {
      if (this.#size <= INLINE_MAX_BYTES && this.#budget.take(chunk.length)) {
        // The caller may reuse its buffer (a socket's chunk is a slice of a larger one): copy.
        this.#inline.push(Buffer.from(chunk));
        return;
      }
      this.#spill();
    }
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.length;
    this.#flushing ??= this.#flush();
    if (this.#queuedBytes > WRITE_BEHIND_BYTES) await this.#flushing;
    this.#throwIfFailed();
  }

  /** Flush the bytes to disk (or hand over those held in memory); returns what was received. */
  async finish(): Promise<Received> {
    if (this.#error !== undefined) throw this.#error;
    if (this.#inline) {
      const bytes = Buffer.concat(this.#inline);
      this.#releaseInline();
      this.#done = true;
      return { size: this.#size, sha256: this.#hash.digest('hex'), bytes };
    }
    await this.#flushing;
    await this.#syncingAhead;
    this.#throwIfFailed();
    const { handle } = await this.#temp!;
    const direct = await this.#direct;
    if (direct) {
      try {
        await direct.finish();
        // The last block went out padded to the disk's block size.
        await handle.truncate(this.#size);
      } catch (err) {
        throw storageError(err, 'saving the upload');
      } finally {
        await direct.close();
      }
    }
    await handle.sync();
    this.#allWritten = true;
    this.#progressed();
    let sha256: string;
    try {
      if (!this.#unhashed) sha256 = this.#hash.digest('hex');
      else if (this.#vouched !== undefined) sha256 = this.#vouched;
      else {
        this.hashFromDisk();
        sha256 = await this.#diskHash!;
      }
    } finally {
      await handle.close();
    }
    this.#done = true;
    return { size: this.#size, sha256 };
  }

  /** Wakes whoever waits for the temp file to grow (or to end, or for an error). */
  #progressed(): void {
    for (const wake of this.#progressWaiters.splice(0)) wake();
  }

  /** The sha256 of the temp file, read in order as its bytes land on it (hashFromDisk). */
  async #readBackHash(): Promise<string> {
    const { tempPath } = await this.#temp!;
    const direct = await this.#direct;
    const handle = await open(tempPath, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const hash = createHash('sha256');
      const scratch = Buffer.allocUnsafe(HASH_PIECE_BYTES);
      for (let done = 0; ;) {
        this.#throwIfFailed();
        const onDisk = this.#allWritten
          ? this.#size
          : Math.min(direct ? direct.written : this.#writtenBytes, this.#size);
        if (done < onDisk) {
          const length = Math.min(scratch.length, onDisk - done);
          const { bytesRead } = await handle.read(scratch, 0, length, done);
          if (bytesRead === 0) throw new Error(`the upload's temp file ends after ${done} bytes`);
          hash.update(scratch.subarray(0, bytesRead));
          done += bytesRead;
        } else if (this.#allWritten) {
          return hash.digest('hex');
        } else {
          await new Promise<void>((resolve) => this.#progressWaiters.push(resolve));
        }
      }
    } finally {
      await handle.close();
    }
  }

  #spill(): void {
    if (this.#hashLeftToCopies) this.#unhashed = true;
    const held = this.#inline!;
    this.#releaseInline();
    this.#queue.unshift(...held);
    this.#queuedBytes += held.reduce((n, b) => n + b.length, 0);
    this.#temp = this.#openTemp().then((temp) => {
      this.#tempPath = temp.tempPath;
      return temp;
    });
    this.#temp.catch(() => undefined); // seen by #flush
    this.#direct = this.#directIo
      ? this.#temp.then(async (temp) => {
          const direct = await DirectWriter.open(temp.tempPath, temp.handle);
          if (direct) direct.onWritten = () => this.#progressed();
          return direct;
        })
      : Promise.resolve(undefined);
    this.#direct.catch(() => undefined); // seen by #flush
  }

  #releaseInline(): void {
    if (!this.#inline) return;
    this.#budget.give(this.#inline.reduce((n, b) => n + b.length, 0));
    this.#inline = undefined;
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }

  /** Writes queued chunks until the queue is empty; never rejects (the error is kept). */
  async #flush(): Promise<void> {
    try {
      const { handle } = await this.#temp!;
      const direct = await this.#direct;
      while (this.#queue.length > 0 && this.#error === undefined) {
        const chunks = this.#queue;
        const bytes = this.#queuedBytes;
        this.#queue = [];
        this.#queuedBytes = 0;
        if (direct) {
          for (const chunk of chunks) await direct.append(chunk);
          continue;
        }
        await writevAll(handle, chunks, bytes);
        this.#unsyncedBytes += bytes;
        this.#writtenBytes += bytes;
        this.#progressed();
        if (this.#unsyncedBytes >= SYNC_AHEAD_BYTES && this.#syncingAhead === undefined)
          this.#syncAhead(handle);
      }
    } catch (err) {
      this.#error = storageError(err, 'saving the upload');
      this.#progressed();
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Starts an early flush of what is written so far (see SYNC_AHEAD_BYTES); one at a time. */
  #syncAhead(handle: FileHandle): void {
    this.#unsyncedBytes = 0;
    this.#syncingAhead = handle
      .datasync()
      .catch((err: unknown) => {
        this.#error ??= storageError(err, 'saving the upload');
      })
      .finally(() => {
        this.#syncingAhead = undefined;
      });
  }

  /** Throw the upload away (never throws). */
  async abort(): Promise<void> {
    this.#releaseInline();
    if (!this.#done) {
      this.#done = true;
      this.#error ??= new Error('upload aborted');
      this.#progressed();
      await this.#diskHash?.catch(() => undefined);
      await this.#flushing; // never close the descriptor under a write in flight
      await this.#syncingAhead;
      await (await this.#direct?.catch(() => undefined))?.close();
      const temp = await this.#temp?.catch(() => undefined);
      await temp?.handle.close().catch(() => undefined);
    }
    if (this.#tempPath !== undefined) await unlink(this.#tempPath).catch(() => undefined);
  }
}

export class DataDirectory {
  readonly root: string;
  readonly stateDir: string;
  readonly tempDir: string;
  readonly #folders = new FolderSyncer();
  /** Folders known to exist as real folders (not links), so a create in them needs no check. */
  readonly #knownFolders = new Set<string>();
  readonly #spareTemps: Promise<TempFile>[] = [];
  /** Writes the plain files of small changes, off the event loop and the I/O threads. */
  readonly #inlineWriter = new InlineWriter();
  readonly #inlineBudget = new InlineBudget();
  /** Files and folders changed since the last checkpoint without a flush of their own. */
  readonly #unsyncedFiles = new Set<string>();
  readonly #unsyncedFolders = new Set<string>();
  /** Test hooks (LANFS_FAULT_*): read errors and a slow disk; inert unless set. */
  readonly #faults = new DiskFaultInjector(diskFaultsFromEnv());
  #closed = false;
  /** Large uploads are written past the page cache where the file system allows it. */
  readonly #directIo: boolean;

  /** `directIo: false` sends every upload through the page cache (tests of that path). */
  constructor(root: string, options: { directIo?: boolean } = {}) {
    this.#directIo = options.directIo ?? true;
    this.root = resolve(root);
    this.stateDir = join(this.root, STATE_DIR_NAME);
    this.tempDir = join(this.stateDir, TEMP_DIR_NAME);
  }

  /** Creates the state folders and removes leftovers of uploads cut off by a crash. */
  async init(): Promise<{ removedTempFiles: number }> {
    const rootStat = await lstat(this.root).catch(() => undefined);
    if (rootStat && !rootStat.isDirectory())
      throw new StorageError(`${this.root} is not a directory; give --data a folder.`);
    const created = await mkdir(this.tempDir, { recursive: true });
    // A new .lanfs (the server id goes there) must survive a power cut in the first seconds.
    if (created !== undefined) await syncDir(this.root);
    const leftovers = await readdir(this.tempDir);
    await Promise.all(
      leftovers.map((entry) => rm(join(this.tempDir, entry), { force: true, recursive: true })),
    );
    if ((await realpath(this.root)) !== this.root) {
      // Checking "stays under the root" compares real paths; keep the root itself real.
      throw new StorageError(
        `${this.root} passes through a symbolic link; give --data its real path (${await realpath(this.root)}).`,
      );
    }
    return { removedTempFiles: leftovers.length };
  }

  /** The on-disk path of a (validated) name, guaranteed to lie inside the root. */
  pathOf(name: string): string {
    const path = join(this.root, ...name.split('/'));
    const rel = relative(this.root, path);
    if (rel === '' || rel.startsWith('..') || rel.split(sep)[0] === STATE_DIR_NAME) {
      throw new InvalidNameError(
        `The name ${JSON.stringify(name)} does not stay inside the data directory.`,
      );
    }
    return path;
  }

  /**
   * A new upload: held in memory while small, else written to a temp file. Temp
   * files are opened ahead of need (a few spare), since creating a file costs
   * more than writing 4 KiB to it and a small create should not wait for that.
   */
  async beginUpload(): Promise<Upload> {
    if (this.#faults.active) await this.#faults.beforeWrite();
    return await Promise.resolve(
      new Upload(() => this.#takeTemp(), this.#inlineBudget, this.#directIo),
    );
  }

  /** The disk faults of this folder (tests; lanfs fault slow-disk on --allow-faults). */
  get faults(): DiskFaultInjector {
    return this.#faults;
  }

  /** Closes and removes the spare temp files (the server is stopping). */
  async close(): Promise<void> {
    const spares = this.#spareTemps.splice(0);
    this.#closed = true;
    await this.#inlineWriter.close();
    await Promise.all(
      spares.map(async (spare) => {
        const temp = await spare.catch(() => undefined);
        if (!temp) return;
        await temp.handle.close().catch(() => undefined);
        await unlink(temp.tempPath).catch(() => undefined);
      }),
    );
  }

  async #takeTemp(): Promise<TempFile> {
    const spare = this.#spareTemps.shift();
    this.#refillSpares();
    if (spare) {
      const temp = await spare.catch(() => undefined);
      if (temp) return temp;
    }
    return await this.#openTemp();
  }

  #refillSpares(): void {
    while (!this.#closed && this.#spareTemps.length < SPARE_UPLOADS) {
      const spare = this.#openTemp();
      spare.catch(() => undefined); // a failure shows when the spare is taken
      this.#spareTemps.push(spare);
    }
  }

  async #openTemp(): Promise<TempFile> {
    const tempPath = join(this.tempDir, `upload-${Date.now()}-${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(
        tempPath,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        0o644,
      );
      return { tempPath, handle };
    } catch (err) {
      throw storageError(err, 'starting an upload');
    }
  }

  /**
   * Puts bytes that the journal already holds at name (a small file). Nothing is
   * flushed: the journal is the durable copy until flushUnsynced() (a checkpoint)
   * has run. A new file is written in place, created exclusively (an existing
   * file of that name fails with NameExists instead of being replaced): no record
   * names it until this returns, and a crash midway is repaired by the replay.
   * A replacement is written beside and renamed over, so a reader of the old
   * bytes never sees part of the new ones.
   */
  async placeInline(
    name: string,
    bytes: Buffer,
    options: { replace: boolean; durable?: boolean },
  ): Promise<LocalFile> {
    const path = this.pathOf(name);
    let local: LocalFile;
    for (let attempt = 0; ; attempt++) {
      try {
        local = await this.#writeInline(name, path, bytes, options);
        break;
      } catch (err) {
        // A folder on the way was removed meanwhile (its last file deleted): once more.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt === 0) {
          this.#knownFolders.clear();
          continue;
        }
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NameExistsError(name);
        throw storageError(err, `storing ${name}`);
      }
    }
    if (options.durable) await this.#folders.sync(dirname(path));
    else {
      this.#unsyncedFiles.add(path);
      this.#unsyncedFolders.add(dirname(path));
    }
    return local;
  }

  /** One try of placeInline; whatever it created is removed again if it fails. */
  async #writeInline(
    name: string,
    path: string,
    bytes: Buffer,
    options: { replace: boolean; durable?: boolean },
  ): Promise<LocalFile> {
    await this.#makeParentsFresh(name);
    // Created exclusively (at the name, or at a temp file renamed over the old bytes):
    // a half-written file is the writer's to remove, never left where a scan adopts it.
    const st = await this.#inlineWriter.write({
      path,
      tempPath: options.replace
        ? join(this.tempDir, `inline-${Date.now()}-${randomBytes(6).toString('hex')}`)
        : undefined,
      bytes,
      durable: options.durable === true,
    });
    return { name, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
  }

  /** #makeParents, once more from scratch if a folder it knew of was removed meanwhile. */
  async #makeParentsFresh(name: string): Promise<void> {
    await this.#makeParents(name).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      this.#knownFolders.clear();
      await this.#makeParents(name);
    });
  }

  /**
   * Removes the bytes of name; like placeInline, flushed only by the next
   * checkpoint. Only a regular file is removed: if the name has since become a
   * folder (or a folder on its path a file), the file is already gone.
   */
  async removeLazily(name: string): Promise<void> {
    const path = this.pathOf(name);
    try {
      const st = await lstat(path);
      if (st.isFile()) await unlink(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw storageError(err, `deleting ${name}`);
    }
    this.#unsyncedFiles.delete(path);
    this.#unsyncedFolders.add(dirname(path));
    const removed = await this.#removeEmptyParents(name);
    for (const folder of removed) this.#unsyncedFolders.add(dirname(folder));
  }

  /**
   * Flushes every file and folder changed without a flush since the last call (a
   * checkpoint). What could not be flushed stays listed, and the error makes the
   * checkpoint fail, so the journal segments that hold those bytes are kept.
   */
  async flushUnsynced(): Promise<void> {
    const files = [...this.#unsyncedFiles];
    const folders = [...this.#unsyncedFolders];
    this.#unsyncedFiles.clear();
    this.#unsyncedFolders.clear();
    const failed: Error[] = [];
    await forEachLimited(files, FLUSHES_AT_ONCE, async (path) => {
      try {
        const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed since: nothing to keep
        this.#unsyncedFiles.add(path);
        failed.push(err as Error);
      }
    });
    await forEachLimited(folders, FLUSHES_AT_ONCE, async (path) => {
      try {
        await syncDir(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        this.#unsyncedFolders.add(path);
        failed.push(err as Error);
      }
    });
    if (failed.length > 0) throw storageError(failed[0], `flushing ${failed.length} written files`);
  }

  /**
   * Checks that a new file could be placed at name: nothing there yet, and every
   * folder on the way a real folder (not a file, not a symbolic link).
   */
  async checkPlaceable(name: string): Promise<void> {
    const segments = name.split('/');
    let path = this.root;
    for (let i = 0; i < segments.length; i++) {
      path = join(path, segments[i]!);
      const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw storageError(err, `checking ${name}`);
      });
      if (st === undefined) return;
      const isLast = i === segments.length - 1;
      if (isLast)
        throw new NameExistsError(
          name,
          st.isDirectory() ? 'is already the name of a folder' : 'already exists',
        );
      if (st.isSymbolicLink())
        throw new InvalidNameError(
          `The name ${JSON.stringify(name)} passes through a symbolic link on the server.`,
        );
      if (!st.isDirectory())
        throw new NameExistsError(
          segments.slice(0, i + 1).join('/'),
          'is a file, so it cannot be a folder',
        );
    }
  }

  /**
   * Moves a finished upload to name, which must not exist (create). Resolves
   * once the file is in place; `durable` resolves when its folder is flushed
   * too, so the caller can save its record meanwhile and wait for both.
   */
  async commitNew(upload: Upload, name: string): Promise<Placed> {
    const path = this.pathOf(name);
    // link() fails with EEXIST instead of replacing: the last guard of create-if-absent.
    await this.#placeUpload(upload, name, () => link(upload.tempPath, path));
    crashPoint('create-after-link');
    const durable = this.#folders.sync(dirname(path));
    durable.catch(() => undefined); // the caller awaits it
    const removeTemp = unlink(upload.tempPath).catch(() => undefined); // a leftover is removed at start anyway
    const [local] = await Promise.all([this.stat(name), removeTemp]);
    return { local, durable };
  }

  /** Replaces the bytes of name with a finished upload (edit), atomically; see commitNew. */
  async commitReplace(upload: Upload, name: string): Promise<Placed> {
    const path = this.pathOf(name);
    await this.#placeUpload(upload, name, () => rename(upload.tempPath, path));
    crashPoint('edit-after-rename');
    const durable = this.#folders.sync(dirname(path));
    durable.catch(() => undefined);
    return { local: await this.stat(name), durable };
  }

  /**
   * Links bytes kept under .lanfs (the trash) into place as name, which must not
   * exist; resolves once its folder is flushed (the kept bytes already are).
   */
  async linkIn(source: string, name: string): Promise<LocalFile> {
    const path = this.pathOf(name);
    try {
      await this.#makeParentsFresh(name);
      await link(source, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NameExistsError(name);
      throw storageError(err, `storing ${name}`);
    }
    await this.#folders.sync(dirname(path));
    return await this.stat(name);
  }

  /** Moves the bytes of name to newName, which must not exist (a conflict's loser). */
  async move(name: string, newName: string): Promise<LocalFile> {
    const from = this.pathOf(name);
    const to = this.pathOf(newName);
    await this.#makeParents(newName);
    try {
      await link(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NameExistsError(newName);
      throw storageError(err, `moving ${name}`);
    }
    // The bytes may never have been flushed (a small file the journal held): flush them
    // under their new name, which is the one the journal will know.
    const moved = await open(to, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await moved.sync();
    } finally {
      await moved.close();
    }
    await this.#folders.sync(dirname(to));
    await unlink(from);
    await this.#folders.sync(dirname(from));
    await this.#removeEmptyParents(name);
    return await this.stat(newName);
  }

  async remove(name: string): Promise<void> {
    const path = this.pathOf(name);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw storageError(err, `deleting ${name}`);
    }
    crashPoint('delete-after-unlink');
    await this.#folders.sync(dirname(path));
    await this.#removeEmptyParents(name);
  }

  /** Makes the folders of name and runs place (link or rename); on failure the upload is dropped. */
  async #placeUpload(upload: Upload, name: string, place: () => Promise<void>): Promise<void> {
    try {
      try {
        await this.#makeParents(name);
        await place();
      } catch (err) {
        // A folder we knew of was removed meanwhile (an emptied folder, or by hand): once more, from scratch.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.#knownFolders.clear();
        await this.#makeParents(name);
        await place();
      }
    } catch (err) {
      await upload.abort();
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NameExistsError(name);
      throw storageError(err, `storing ${name}`);
    }
  }

  async stat(name: string): Promise<LocalFile> {
    const st = await lstat(this.pathOf(name));
    return { name, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
  }

  /** Opens name for reading without following a symbolic link at its last part. */
  async openForRead(name: string): Promise<{ handle: FileHandle; file: LocalFile }> {
    const handle = await open(this.pathOf(name), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new StorageError(`${name} is not a regular file on the server.`);
      if (this.#faults.active) await this.#faults.beforeRead(name, st.ino);
      return { handle, file: { name, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs } };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * Keeps the bytes of name (found damaged) under .lanfs/quarantine/, as a hard link,
   * so replacing the file later leaves them there; never deletes anything. Returns
   * the path they are kept at.
   */
  async quarantine(name: string): Promise<string> {
    const folder = join(this.stateDir, QUARANTINE_DIR_NAME);
    await mkdir(folder, { recursive: true });
    const kept = join(
      folder,
      `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}-${name.replace(/\//g, '%2F').slice(-160)}`,
    );
    await link(this.pathOf(name), kept);
    await syncDir(folder);
    return kept;
  }

  /** sha256 of the bytes of name, streamed. */
  async hash(name: string): Promise<string> {
    return (await this.hashLocal(name)).sha256;
  }

  /**
   * sha256 of the bytes of name and the identity (size, inode, mtime) of the bytes
   * read, from the same descriptor. Read in pieces through `scratch` (one buffer per
   * caller, reused): the start-up scan hashes 100,000 small files, and a fresh
   * megabyte buffer for each kept the garbage collector busy for a third of the scan.
   */
  async hashLocal(
    name: string,
    scratch: Buffer = Buffer.allocUnsafe(HASH_PIECE_BYTES),
  ): Promise<{ sha256: string; file: LocalFile }> {
    const { handle, file } = await this.openForRead(name);
    try {
      const hash = createHash('sha256');
      // Up to the size the descriptor gave, so a small file takes one read, not two
      // (the second to see the end); bytes appended meanwhile make the next start
      // hash it again (its size no longer matches).
      let total = 0;
      while (total < file.size) {
        const { bytesRead } = await handle.read(scratch, 0, scratch.length, total);
        if (bytesRead === 0) break;
        hash.update(scratch.subarray(0, bytesRead));
        total += bytesRead;
      }
      return { sha256: hash.digest('hex'), file: { ...file, size: Math.min(total, file.size) } };
    } finally {
      await handle.close();
    }
  }

  /**
   * Every regular file under the root (SPEC §2.1): recursive, folders are not
   * entries, .lanfs is skipped, symbolic links are never followed, and names that
   * break the rules are reported instead of listed.
   */
  async *walk(onSkipped: (path: string, reason: string) => void): AsyncGenerator<LocalFile> {
    const pending: string[] = [''];
    while (pending.length > 0) {
      const prefix = pending.pop()!;
      const dir = await opendir(prefix === '' ? this.root : join(this.root, ...prefix.split('/')));
      // The lstat of a folder's files run WALK_STATS_AT_ONCE at a time, not one after
      // another: a restart of 100,000 files is this walk and nothing else.
      let names: string[] = [];
      for await (const entry of dir as AsyncIterable<Dirent>) {
        const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        if (prefix === '' && entry.name === STATE_DIR_NAME) continue;
        if (entry.isSymbolicLink()) {
          onSkipped(name, 'it is a symbolic link');
        } else if (entry.isDirectory()) {
          pending.push(name);
        } else if (entry.isFile()) {
          let valid: string;
          try {
            valid = validateName(name);
          } catch (err) {
            onSkipped(name, (err as Error).message);
            continue;
          }
          if (valid !== name) {
            onSkipped(name, 'its name is not in Unicode NFC form; rename it');
            continue;
          }
          names.push(name);
          if (names.length >= WALK_STATS_AT_ONCE) {
            yield* await this.#statFiles(names);
            names = [];
          }
        }
      }
      if (names.length > 0) yield* await this.#statFiles(names);
    }
  }

  /** The files among names that are still regular files, with their identity. */
  async #statFiles(names: string[]): Promise<LocalFile[]> {
    const stats = await Promise.all(
      names.map((name) => lstat(join(this.root, ...name.split('/'))).catch(() => undefined)),
    );
    const files: LocalFile[] = [];
    stats.forEach((st, i) => {
      if (st?.isFile())
        files.push({ name: names[i]!, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs });
    });
    return files;
  }

  /** Creates the folders above name (each made durable in its parent), checking each is a real folder. */
  async #makeParents(name: string): Promise<void> {
    const segments = name.split('/').slice(0, -1);
    for (let i = 1; i <= segments.length; i++) {
      const folder = segments.slice(0, i).join('/');
      if (this.#knownFolders.has(folder)) continue;
      const path = join(this.root, ...segments.slice(0, i));
      try {
        await mkdir(path);
        await this.#folders.sync(dirname(path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const st = await lstat(path);
        if (st.isSymbolicLink()) {
          throw new InvalidNameError(
            `The name ${JSON.stringify(name)} passes through a symbolic link on the server.`,
          );
        }
        if (!st.isDirectory())
          throw new NameExistsError(folder, 'is a file, so it cannot be a folder');
        // Made by a create running beside this one, whose flush of the parent may not be
        // done: flush it here too (shared with that one), before anything goes inside.
        await this.#folders.sync(dirname(path));
      }
      this.#knownFolders.add(folder);
    }
  }

  /** Removes the folders above name that are now empty; returns their paths. */
  async #removeEmptyParents(name: string): Promise<string[]> {
    const segments = name.split('/').slice(0, -1);
    const removed: string[] = [];
    while (segments.length > 0) {
      const path = join(this.root, ...segments);
      try {
        await rmdir(path);
      } catch {
        break; // not empty (or already gone): stop climbing
      }
      removed.push(path);
      this.#knownFolders.delete(segments.join('/'));
      segments.pop();
    }
    return removed;
  }
}

/**
 * fsync of folders with group commit: callers that ask while a sync of the same
 * folder is waiting to start share it; one that asks while a sync runs gets the
 * next one (its change may have come too late for the running one).
 */
export class FolderSyncer {
  readonly #folders = new Map<string, { running?: Promise<void>; waiting?: Promise<void> }>();

  async sync(path: string): Promise<void> {
    let state = this.#folders.get(path);
    if (!state) {
      state = {};
      this.#folders.set(path, state);
    }
    const s = state;
    if (s.waiting) return await s.waiting;
    const previous = s.running?.catch(() => undefined) ?? Promise.resolve();
    const mine: Promise<void> = previous
      .then(async () => {
        s.waiting = undefined;
        s.running = mine;
        await syncDir(path);
      })
      .finally(() => {
        if (s.running === mine) s.running = undefined;
        if (!s.running && !s.waiting) this.#folders.delete(path);
      });
    s.waiting = mine;
    return await mine;
  }
}

/**
 * Writes all `bytes` of chunks with writev, again from where a short write stopped;
 * at `position`, or at the descriptor's own position when none is given.
 */
export async function writevAll(
  handle: FileHandle,
  chunks: Buffer[],
  bytes: number,
  position?: number,
): Promise<void> {
  for (let written = 0; written < bytes;) {
    const at = position === undefined ? undefined : position + written;
    const { bytesWritten } = await handle.writev(chunks, at);
    written += bytesWritten;
    if (written < bytes) chunks = skipBytes(chunks, bytesWritten);
  }
}

/** The chunks left after the first n bytes (a short writev). */
function skipBytes(chunks: Buffer[], n: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const chunk of chunks) {
    if (n >= chunk.length) n -= chunk.length;
    else {
      rest.push(n > 0 ? chunk.subarray(n) : chunk);
      n = 0;
    }
  }
  return rest;
}

/** Runs work on every item, at most `limit` at once. */
async function forEachLimited<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** fsync a folder, so a rename or link inside it survives a crash. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
