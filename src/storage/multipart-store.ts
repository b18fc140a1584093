/**
 * The parts of S3 multipart uploads in progress on this server, kept durably
 * under DIR/.lanfs/multipart/<uploadId>/ until the upload is completed, aborted
 * or expires: `upload.json` says which file it makes (name, media type,
 * metadata), and each part is a data file beside a small JSON with its size and
 * MD5. A part is written to a temp file, flushed (fsync) and renamed, then its
 * JSON is written the same way, so a part is there whole or not at all and a
 * part sent again replaces the old one in one rename. Nothing here blocks the
 * event loop (fs/promises only), and nothing here knows S3 beyond its limits:
 * the S3 front end (src/s3) turns these into answers.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LanfsError } from '../shared/errors.ts';
import { storageError, writevAll } from './data-directory.ts';

/** S3's limits: parts are numbered 1 to 10,000, each at most 5 GiB. */
export const MAX_PART_NUMBER = 10_000;
export const MAX_PART_BYTES = 5 * 1024 ** 3;
/** A part's bytes are written in pieces of about this size (see beginPart). */
const PART_WRITE_BYTES = 1024 * 1024;
/** Upload ids made here: `<serverId>-<32 hex>`, so any server knows where an upload lives. */
const UPLOAD_ID = /^([1-9]\d{0,9})-([0-9a-f]{32})$/;
const UPLOAD_FILE = 'upload.json';

/** What a multipart upload will make once completed. */
export interface UploadInfo {
  uploadId: string;
  /** The lanfs name of the file (bucket/key). */
  name: string;
  contentType?: string;
  metadata?: Record<string, string>;
  /** ms since the epoch. */
  initiated: number;
}

export interface StoredPart {
  partNumber: number;
  size: number;
  /** MD5 of the part's bytes, hex. */
  md5: string;
  /** ms since the epoch. */
  storedAt: number;
  /** The data file, in the upload's folder. */
  file: string;
}

/** A part being received: write() each chunk in order, then commit() or abort(). */
export interface PartWriter {
  readonly size: number;
  write(chunk: Buffer): Promise<void>;
  /**
   * Flushes and puts the part in place (replacing one of the same number), with the
   * MD5 (hex) of its bytes, which the caller took as they came (it is the part's S3
   * ETag, and the S3 side hashes the body anyway to check Content-MD5: not twice).
   */
  commit(md5: string): Promise<StoredPart>;
  /** Throws the bytes away; never throws. */
  abort(): Promise<void>;
}

/** The server id an upload id names, or undefined if it is not one lanfs makes. */
export function serverOfUpload(uploadId: string): number | undefined {
  const m = UPLOAD_ID.exec(uploadId);
  return m === null ? undefined : Number(m[1]);
}

export class MultipartStore {
  readonly #root: string;
  readonly #serverId: number;

  /** root: DIR/.lanfs/multipart */
  constructor(options: { root: string; serverId: number }) {
    this.#root = options.root;
    this.#serverId = options.serverId;
  }

  /** Starts an upload: its folder and upload.json, flushed. */
  async create(what: Omit<UploadInfo, 'uploadId' | 'initiated'>): Promise<UploadInfo> {
    const info: UploadInfo = {
      ...what,
      uploadId: `${this.#serverId}-${randomBytes(16).toString('hex')}`,
      initiated: Date.now(),
    };
    const dir = this.#dirOf(info.uploadId)!;
    try {
      await mkdir(dir, { recursive: true });
      await writeDurably(dir, UPLOAD_FILE, JSON.stringify(info));
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw storageError(err, 'starting a multipart upload');
    }
    return info;
  }

  /** The upload, or undefined if there is none by that id here. */
  async get(uploadId: string): Promise<UploadInfo | undefined> {
    const dir = this.#dirOf(uploadId);
    if (dir === undefined) return undefined;
    return await readJson<UploadInfo>(join(dir, UPLOAD_FILE));
  }

  /** Every upload in progress here, oldest first. */
  async list(): Promise<UploadInfo[]> {
    const found: UploadInfo[] = [];
    for (const id of await this.#ids()) {
      const info = await this.get(id);
      if (info) found.push(info);
    }
    return found.sort((a, b) => a.initiated - b.initiated);
  }

  /** Starts receiving part partNumber of an upload; undefined if there is no such upload. */
  async beginPart(uploadId: string, partNumber: number): Promise<PartWriter | undefined> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER)
      throw new RangeError(`part number ${partNumber} is out of range`);
    const dir = this.#dirOf(uploadId);
    if (dir === undefined || (await this.get(uploadId)) === undefined) return undefined;
    const base = `part-${String(partNumber).padStart(5, '0')}`;
    const file = `${base}-${randomBytes(6).toString('hex')}.bin`;
    const tempPath = join(dir, `${file}.tmp`);
    let handle;
    try {
      handle = await open(tempPath, 'wx');
    } catch (err) {
      throw storageError(err, 'receiving a part of a multipart upload');
    }
    const fh = handle;
    let size = 0;
    let done = false;
    // Chunks gathered into one writev of about PART_WRITE_BYTES: an HTTP body comes in
    // 64 KiB pieces, and one thread-pool write each cost the event loop a hand-off per piece.
    let queue: Buffer[] = [];
    let queued = 0;
    const writeQueued = async (): Promise<void> => {
      const [chunks, bytes] = [queue, queued];
      queue = [];
      queued = 0;
      await writevAll(fh, chunks, bytes);
    };
    const abort = async (): Promise<void> => {
      if (done) return;
      done = true;
      await fh.close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
    };
    return {
      get size() {
        return size;
      },
      write: async (chunk) => {
        if (size + chunk.length > MAX_PART_BYTES)
          throw new LanfsError(
            'LANFS_ERR_TOO_LARGE',
            `A part of a multipart upload may hold at most ${MAX_PART_BYTES} bytes (5 GiB); send it as more parts.`,
          );
        size += chunk.length;
        queue.push(chunk);
        queued += chunk.length;
        if (queued < PART_WRITE_BYTES) return;
        try {
          await writeQueued();
        } catch (err) {
          throw storageError(err, 'receiving a part of a multipart upload');
        }
      },
      commit: async (md5) => {
        done = true;
        const part: StoredPart = {
          partNumber,
          size,
          md5,
          storedAt: Date.now(),
          file,
        };
        try {
          await writeQueued();
          await fh.sync();
          await fh.close();
          await rename(tempPath, join(dir, file));
          const before = await readJson<StoredPart>(join(dir, `${base}.json`));
          await writeDurably(dir, `${base}.json`, JSON.stringify(part));
          if (before && before.file !== file) await unlink(join(dir, before.file)).catch(() => {});
        } catch (err) {
          await fh.close().catch(() => undefined);
          await unlink(tempPath).catch(() => undefined);
          throw storageError(err, 'storing a part of a multipart upload');
        }
        return part;
      },
      abort,
    };
  }

  /** The parts stored so far, by part number; undefined if there is no such upload. */
  async parts(uploadId: string): Promise<StoredPart[] | undefined> {
    const dir = this.#dirOf(uploadId);
    if (dir === undefined || (await this.get(uploadId)) === undefined) return undefined;
    const names = await readdir(dir).catch(() => [] as string[]);
    const parts: StoredPart[] = [];
    for (const name of names) {
      if (!/^part-\d{5}\.json$/.test(name)) continue;
      const part = await readJson<StoredPart>(join(dir, name));
      if (part) parts.push(part);
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /** The bytes of one stored part. */
  readPart(uploadId: string, part: StoredPart): ReadStream {
    const dir = this.#dirOf(uploadId);
    if (dir === undefined || !/^part-\d{5}-[0-9a-f]{12}\.bin$/.test(part.file))
      throw new RangeError('not a part of an upload here');
    return createReadStream(join(dir, part.file), { highWaterMark: 256 * 1024 });
  }

  /** Removes an upload and its parts; false if there was none. */
  async remove(uploadId: string): Promise<boolean> {
    const dir = this.#dirOf(uploadId);
    if (dir === undefined || (await this.get(uploadId)) === undefined) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  /**
   * Removes the uploads nothing happened to for maxAgeMs (no new part, judged by
   * the folder's mtime, which every part's rename moves on); the ids removed.
   */
  async removeExpired(maxAgeMs: number, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await this.#ids()) {
      const dir = join(this.#root, id);
      const changed = await stat(dir).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      const info = await this.get(id);
      const last = Math.max(changed ?? 0, info?.initiated ?? 0);
      if (now - last <= maxAgeMs) continue;
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      removed.push(id);
    }
    return removed;
  }

  async #ids(): Promise<string[]> {
    const names = await readdir(this.#root).catch(() => [] as string[]);
    return names.filter((n) => UPLOAD_ID.test(n));
  }

  /** The folder of an upload id; undefined for ids lanfs never makes (no path tricks). */
  #dirOf(uploadId: string): string | undefined {
    return UPLOAD_ID.test(uploadId) ? join(this.#root, uploadId) : undefined;
  }
}

/** Writes dir/name through a flushed temp file and a rename, then flushes the folder. */
async function writeDurably(dir: string, name: string, text: string): Promise<void> {
  const temp = join(dir, `${name}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, name));
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
