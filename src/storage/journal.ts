/**
 * The write-ahead journal of one server (DIR/.lanfs/journal/NNNNNNNN.log): the
 * durability point of every change. Entries are appended, never rewritten, and
 * one fdatasync on the libuv thread pool covers every entry waiting at that
 * moment (group commit), so concurrent creates share one flush and the event
 * loop never waits for the disk. A change is acknowledged only once the flush
 * that covers it has returned.
 *
 * Each entry is framed so that a tail torn by a crash is recognised and cut off
 * at start-up: magic, the lengths of its JSON and of its raw bytes, and a CRC-32
 * of all of it. Segments let a checkpoint drop what it has made durable elsewhere
 * (state-snapshot.ts) without ever rewriting the file being appended to.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { crashPoint } from '../shared/crash-points.ts';
import { StorageError } from '../shared/errors.ts';
import { storageError, syncDir, writevAll } from './data-directory.ts';

export const JOURNAL_DIR_NAME = 'journal';
const MAGIC = 0x4c4a3031; // "LJ01"
const HEADER_BYTES = 16;
/** Larger than any entry lanfs writes (a record and at most the inline bytes); guards replay. */
const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/** One change as written: a JSON description and, for a small file, its bytes. */
export interface JournalEntry {
  json: unknown;
  bytes?: Buffer;
}

/** What start-up finds: the entries of every segment, in order, and what was cut off. */
export interface JournalReplay {
  entries: JournalEntry[];
  /** Bytes after the last whole entry of the newest segment (a write cut short by a crash). */
  tornBytes: number;
}

interface Waiting {
  buffers: Buffer[];
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Journal {
  readonly dir: string;
  #handle: FileHandle;
  #segment: number;
  /** Where the next entry goes in the current segment. */
  #position: number;
  #queue: Waiting[] = [];
  #running: Promise<void> | undefined;
  #rotation: { resolve: (old: number) => void; reject: (err: Error) => void }[] = [];
  #broken: Error | undefined;
  #closed = false;

  private constructor(dir: string, handle: FileHandle, segment: number, position: number) {
    this.dir = dir;
    this.#handle = handle;
    this.#segment = segment;
    this.#position = position;
  }

  /**
   * Reads every segment from `firstSegment` on (older ones are covered by the
   * snapshot and removed), cuts a torn tail off the newest, and opens it for
   * appending.
   */
  static async open(
    stateDir: string,
    firstSegment: number,
  ): Promise<{ journal: Journal; replay: JournalReplay }> {
    const dir = join(stateDir, JOURNAL_DIR_NAME);
    await mkdir(dir, { recursive: true });
    const segments = (await readdir(dir))
      .map((file) => /^(\d{8})\.log$/.exec(file))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const old of segments.filter((s) => s < firstSegment))
      await rm(join(dir, segmentFile(old)), { force: true });
    const live = segments.filter((s) => s >= firstSegment);
    const entries: JournalEntry[] = [];
    let tornBytes = 0;
    let last = firstSegment;
    let end = 0;
    let torn: Buffer | undefined;
    for (const [i, segment] of live.entries()) {
      const path = join(dir, segmentFile(segment));
      const data = await readFile(path);
      const parsed = parseSegment(data);
      if (parsed.tornBytes > 0 && i < live.length - 1) {
        // Only the newest segment can end in a write cut short by a crash (a segment is
        // closed only after its last flush): damage anywhere else would drop changes
        // that were acknowledged. Stop rather than start without them.
        throw new StorageError(
          `The journal ${path} is damaged ${parsed.end} bytes in (changes after that point would be lost); copy the folder ${dir} aside for analysis and restore the server from a copy, or move the journal away to start from the last checkpoint.`,
        );
      }
      entries.push(...parsed.entries);
      tornBytes = parsed.tornBytes;
      if (tornBytes > 0) torn = data.subarray(parsed.end);
      last = segment;
      end = parsed.end;
    }
    let handle: FileHandle;
    try {
      handle = await open(join(dir, segmentFile(last)), constants.O_RDWR | constants.O_CREAT);
      if (live.length === 0) await syncDir(dir);
      else if (torn) {
        // Kept aside, not thrown away: normally a write cut short by a crash (never
        // acknowledged), but if it is damage in the middle, what followed is in there.
        await writeFile(join(dir, `${segmentFile(last)}.torn-${Date.now()}`), torn);
        await handle.truncate(end);
        await handle.datasync();
      }
    } catch (err) {
      throw storageError(err, 'opening the journal');
    }
    return { journal: new Journal(dir, handle, last, end), replay: { entries, tornBytes } };
  }

  /** The segment being appended to. */
  get segment(): number {
    return this.#segment;
  }

  /** Bytes in the current segment. */
  get size(): number {
    return this.#position;
  }

  /**
   * Appends one entry; resolves once it is on disk. Entries appended while a
   * flush runs go together in the next one.
   */
  async append(entry: JournalEntry): Promise<void> {
    if (this.#broken) throw this.#broken;
    if (this.#closed) throw new StorageError('The server is stopping; nothing more is saved.');
    const buffers = encodeEntry(entry);
    const bytes = buffers.reduce((n, b) => n + b.length, 0);
    return await new Promise<void>((resolve, reject) => {
      this.#queue.push({ buffers, bytes, resolve, reject });
      this.#running ??= this.#run();
    });
  }

  /**
   * Starts a new segment: entries appended from now on go there. Resolves with
   * the number of the old one once every entry written to it is durable.
   */
  async rotate(): Promise<number> {
    return await new Promise<number>((resolve, reject) => {
      this.#rotation.push({ resolve, reject });
      this.#running ??= this.#run();
    });
  }

  /** Removes segments older than `segment` (a snapshot covers them now). */
  async dropBefore(segment: number): Promise<void> {
    const files = await readdir(this.dir);
    for (const file of files) {
      const m = /^(\d{8})\.log$/.exec(file);
      if (m && Number(m[1]) < segment) await rm(join(this.dir, file), { force: true });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
    await this.#handle.close().catch(() => undefined);
  }

  /** The one writer: a batch at a time, then any rotation asked for in between. */
  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0 || this.#rotation.length > 0) {
        if (this.#queue.length > 0) await this.#writeBatch(this.#queue.splice(0));
        if (this.#rotation.length > 0) await this.#rotate(this.#rotation.splice(0));
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #writeBatch(batch: Waiting[]): Promise<void> {
    const start = this.#position;
    const total = batch.reduce((n, w) => n + w.bytes, 0);
    try {
      if (this.#broken) throw this.#broken;
      await writevAll(
        this.#handle,
        batch.flatMap((w) => w.buffers),
        total,
        start,
      );
      crashPoint('journal-after-append');
      await this.#handle.datasync();
      this.#position = start + total;
    } catch (err) {
      const error = storageError(err, 'saving the journal');
      // Cut back to the last whole entry so later appends stay readable; if even
      // that fails, the journal cannot be trusted and every later change is refused.
      try {
        await this.#handle.truncate(start);
        await this.#handle.datasync();
      } catch {
        this.#broken = error;
      }
      for (const w of batch) w.reject(error);
      return;
    }
    for (const w of batch) w.resolve();
  }

  async #rotate(waiting: { resolve: (old: number) => void; reject: (err: Error) => void }[]) {
    const old = this.#segment;
    try {
      const next = old + 1;
      const handle = await open(
        join(this.dir, segmentFile(next)),
        constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
      );
      await syncDir(this.dir); // the new segment's name must survive a crash before anything in it
      await this.#handle.close();
      this.#handle = handle;
      this.#segment = next;
      this.#position = 0;
    } catch (err) {
      const error = storageError(err, 'starting a journal segment');
      for (const w of waiting) w.reject(error);
      return;
    }
    for (const w of waiting) w.resolve(old);
  }
}

export function segmentFile(segment: number): string {
  return `${String(segment).padStart(8, '0')}.log`;
}

function encodeEntry(entry: JournalEntry): Buffer[] {
  const json = Buffer.from(JSON.stringify(entry.json));
  const bytes = entry.bytes ?? Buffer.alloc(0);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(json.length, 4);
  header.writeUInt32BE(bytes.length, 8);
  header.writeUInt32BE(crc32(bytes, crc32(json, crc32(header.subarray(0, 12)))), 12);
  return bytes.length > 0 ? [header, json, bytes] : [header, json];
}

/** Whole entries up to the first incomplete or damaged one (a crash's torn tail). */
function parseSegment(data: Buffer): { entries: JournalEntry[]; end: number; tornBytes: number } {
  const entries: JournalEntry[] = [];
  let at = 0;
  while (at + HEADER_BYTES <= data.length) {
    if (data.readUInt32BE(at) !== MAGIC) break;
    const jsonLength = data.readUInt32BE(at + 4);
    const bytesLength = data.readUInt32BE(at + 8);
    const end = at + HEADER_BYTES + jsonLength + bytesLength;
    if (jsonLength + bytesLength > MAX_ENTRY_BYTES || end > data.length) break;
    const json = data.subarray(at + HEADER_BYTES, at + HEADER_BYTES + jsonLength);
    const bytes = data.subarray(at + HEADER_BYTES + jsonLength, end);
    const crc = crc32(bytes, crc32(json, crc32(data.subarray(at, at + 12))));
    if (crc !== data.readUInt32BE(at + 12)) break;
    let parsed: unknown;
    try {
      parsed = JSON.parse(json.toString());
    } catch {
      break;
    }
    entries.push(bytesLength > 0 ? { json: parsed, bytes: Buffer.from(bytes) } : { json: parsed });
    at = end;
  }
  return { entries, end: at, tornBytes: data.length - at };
}
