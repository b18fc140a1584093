/**
 * The receiving side of one DOWNLOAD request (RequestStreams.download sends it):
 * checks a resumed download's FILE against what it had, writes the DATA to the
 * sink while hashing it (shared/stream-hash.ts), holds the connection while the
 * sink or the hash thread is behind, and at the end checks the size, then the
 * sha256. What it has received lives in a DownloadProgress, which a client keeps
 * across a failover so the next server resumes where this one stopped.
 */
import type { Writable } from 'node:stream';
import type { BodyOf, FileRecord, Message } from '../protocol/messages.ts';
import { ChecksumMismatchError, LanfsError, ProtocolError } from '../shared/errors.ts';
import { streamHash, type StreamHash } from '../shared/stream-hash.ts';

export interface DownloadOptions {
  /** Called as bytes move: done so far and the total. */
  onProgress?: (done: number, total: number | null) => void;
  /** Called once the other end has found the file, before any byte is written. */
  onStart?: (record: FileRecord) => void;
  /** A kept version instead of the newest (lanfs download NAME@3). */
  version?: number;
}

/** Where a download stands, kept across a failover so it resumes where it stopped. */
export interface DownloadProgress {
  record: FileRecord | undefined;
  received: number;
  /** Started when the first FILE names the size (a large file is hashed on a thread). */
  hash: StreamHash | undefined;
}

export function newDownloadProgress(): DownloadProgress {
  return { record: undefined, received: 0, hash: undefined };
}

/** What a download needs of its connection: to stop reading and to read again. */
export interface Reading {
  pause(): void;
  resume(): void;
}

export class Download {
  readonly #name: string;
  readonly #sink: Writable;
  readonly #options: DownloadOptions;
  readonly #progress: DownloadProgress;
  readonly #reading: Reading;
  /** Waits that keep the connection paused, each let go once (its wait ended, or the download). */
  readonly #holds = new Set<() => void>();
  #waitingForSink = false;
  #waitingForHash = false;
  /** A FILE is still to be checked against what an earlier try received. */
  #resuming: boolean;

  constructor(
    name: string,
    sink: Writable,
    options: DownloadOptions,
    progress: DownloadProgress,
    reading: Reading,
  ) {
    this.#name = name;
    this.#sink = sink;
    this.#options = options;
    this.#progress = progress;
    this.#reading = reading;
    this.#resuming = progress.received > 0;
  }

  /** The DOWNLOAD request: from where this download stands. */
  get request(): BodyOf<'DOWNLOAD'> {
    const body: BodyOf<'DOWNLOAD'> = { name: this.#name, offset: this.#progress.received };
    if (this.#options.version !== undefined) body.version = this.#options.version;
    return body;
  }

  /** Each answer of the request, in order; finish() after END. Throws on what breaks the rules. */
  onAnswer(message: Message, finish: () => void): void {
    const progress = this.#progress;
    switch (message.type) {
      case 'FILE': {
        const record = message.body.record;
        if (this.#resuming) {
          const before = progress.record!;
          if (
            record.fileId !== before.fileId ||
            record.version !== before.version ||
            record.sha256 !== before.sha256
          ) {
            throw new LanfsError(
              'LANFS_ERR_CONNECTION_CLOSED',
              `"${this.#name}" changed while it was being downloaded; download it again.`,
            );
          }
          if (message.body.offset !== progress.received)
            throw new ProtocolError('The server resumed the download at another offset.');
          this.#resuming = false;
        } else {
          progress.record = record;
          progress.hash ??= streamHash('sha256', record.size); // none, or one that got no byte
          this.#options.onStart?.(record);
        }
        this.#options.onProgress?.(progress.received, record.size);
        return;
      }
      case 'DATA': {
        const record = progress.record;
        if (!record) throw new ProtocolError('File bytes arrived before the FILE message.');
        const hash = progress.hash!;
        hash.update(message.bytes);
        progress.received += message.bytes.length;
        this.#options.onProgress?.(progress.received, record.size);
        if (!this.#sink.write(message.bytes) && !this.#waitingForSink) {
          // The sink is slower than the network: stop reading until it catches up.
          this.#waitingForSink = true;
          this.#holdUntil(
            new Promise((resolve) =>
              this.#sink.once('drain', () => {
                this.#waitingForSink = false;
                resolve();
              }),
            ),
          );
        }
        if (hash.behind && !this.#waitingForHash) {
          this.#waitingForHash = true;
          this.#holdUntil(hash.caughtUp().then(() => void (this.#waitingForHash = false)));
        }
        return;
      }
      case 'END': {
        const record = progress.record;
        if (!record) throw new ProtocolError('END arrived before the FILE message.');
        if (progress.received !== record.size) throw this.#mismatch(record);
        finish(); // the sha256 is checked by verify(), once the hash has every byte
        return;
      }
      default:
        throw new ProtocolError(`${message.type} is not valid during a download.`);
    }
  }

  /** The request is over (answered or not): the connection reads again. */
  ended(): void {
    for (const release of [...this.#holds]) release();
  }

  /** After END: the record, once the whole file matched its sha256. */
  async verify(): Promise<FileRecord> {
    const record = this.#progress.record!;
    if ((await this.#progress.hash!.digest()) !== record.sha256) throw this.#mismatch(record);
    return record;
  }

  #holdUntil(caughtUp: Promise<void>): void {
    const release = (): void => {
      if (this.#holds.delete(release)) this.#reading.resume();
    };
    this.#holds.add(release);
    this.#reading.pause();
    void caughtUp.then(release);
  }

  #mismatch(record: FileRecord): Error {
    return new ChecksumMismatchError(
      `The bytes of "${this.#name}" did not match their sha256 (${this.#progress.received} of ${record.size} bytes); nothing was kept, try again.`,
    );
  }
}
