/**
 * Reads a large file past the page cache (O_DIRECT) for a sender that gives each
 * chunk back once its socket has written it (a TCP download, an HTTP GET). Why:
 * large uploads are written past the page cache (direct-writer.ts), and reading
 * them back through it would fill fresh page-cache pages, which on this machine
 * kind cost 0.9 s of CPU per 512 MiB (a fault per page the host must back again);
 * the disk itself reads them in a fraction of that. Like a database, or MinIO for
 * large objects, lanfs leaves the page cache to the small files.
 *
 * A second descriptor is opened on the same inode through /proc/self/fd, so the
 * bytes are those of the version the caller opened even if the name has moved on.
 * Reads start on a block boundary and cover whole blocks; the chunk handed out is
 * the part asked for. Where O_DIRECT or /proc is refused, or every aligned buffer
 * is in use, the caller reads as before.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { AlignedBuffers, DIRECT_ALIGN_BYTES } from './aligned-buffers.ts';

/** Reads of fewer bytes than this go through the page cache (the small files live there). */
export const DIRECT_READ_MIN_BYTES = 4 * 1024 * 1024;
/**
 * One direct read: the disk has no read-ahead to lean on here, and reads of 256 KiB,
 * one at a time, took 2.7 times the CPU of 1 MiB reads (thread-pool hand-offs) and
 * ran at 0.76 times their speed.
 */
export const DIRECT_READ_BYTES = 1024 * 1024;
/** Chunks being read or sent at once, over all readers; more are read the ordinary way. */
const DIRECT_CHUNKS = 32;

/** A chunk of up to DIRECT_READ_BYTES, starting anywhere within a block. */
const buffers = new AlignedBuffers(DIRECT_READ_BYTES + DIRECT_ALIGN_BYTES, DIRECT_CHUNKS);
/** Set once O_DIRECT (or /proc/self/fd) was refused here: later readers do not try again. */
let directRefused = false;

export interface DirectChunk {
  bytes: Buffer;
  /** The caller is done with bytes (its socket wrote them): the buffer is read into again. */
  release: () => void;
}

export class DirectReads {
  readonly #handle: FileHandle;

  /** A direct descriptor on the file handle has open, or undefined where that is refused. */
  static async open(handle: FileHandle): Promise<DirectReads | undefined> {
    if (directRefused) return undefined;
    try {
      return new DirectReads(
        await open(`/proc/self/fd/${handle.fd}`, constants.O_RDONLY | constants.O_DIRECT),
      );
    } catch (err) {
      // Refused for good (no O_DIRECT on this file system, no /proc), or only for now
      // (out of descriptors): either way this download reads the ordinary way.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'ENOENT') directRefused = true;
      return undefined;
    }
  }

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /**
   * Up to length (at most DIRECT_READ_BYTES) bytes at position; fewer at the end of
   * the file. Undefined when no aligned buffer is free or the file system refuses
   * the read: the caller reads these bytes the ordinary way.
   */
  async read(position: number, length: number): Promise<DirectChunk | undefined> {
    if (directRefused) return undefined;
    const buffer = buffers.take();
    if (!buffer) return undefined;
    const skip = position % DIRECT_ALIGN_BYTES;
    const span = Math.ceil((skip + length) / DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES;
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.#handle.read(buffer, 0, span, position - skip));
    } catch (err) {
      buffers.give(buffer);
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      directRefused = true;
      return undefined;
    }
    let released = false;
    return {
      bytes: buffer.subarray(skip, skip + Math.max(0, Math.min(length, bytesRead - skip))),
      release: () => {
        // Twice would hand one buffer to two reads.
        if (released) return;
        released = true;
        buffers.give(buffer);
      },
    };
  }

  async close(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
  }
}
