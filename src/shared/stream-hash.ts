/**
 * The sha256 (or MD5) of a byte stream, computed on a worker thread when the
 * stream is large. A download's receiving thread reads the socket, writes the file
 * and hashes; the hash was a third of that thread's time on a 512 MiB download
 * (0.32 s of 0.86 s), while the machine's other core had little to do. An S3 part
 * or object is hashed twice as it arrives (MD5 for its ETag, sha256 for its
 * signature), all of it on the event loop that serves every other request. The
 * bytes are copied into batch buffers of BATCH_BYTES and handed over (transferred,
 * not cloned) to one thread shared by every large stream of the process, which
 * sends each buffer back to be filled again: a new buffer per batch made the
 * download slower than hashing in place (fresh memory for every MiB). A stream
 * shorter than THREAD_MIN_BYTES is hashed in place: a hand-off would cost it more
 * than it saves.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { LanfsError } from './errors.ts';

/** Streams at least this long are hashed on the thread. */
export const THREAD_MIN_BYTES = 8 * 1024 * 1024;
/** Bytes gathered before one hand-off to the thread. */
const BATCH_BYTES = 1024 * 1024;
/**
 * Batch buffers kept for reuse. A download keeps two or three circulating; an S3
 * multipart upload (aws-cli sends ten parts at once, each hashed twice) about twenty,
 * and with 8 kept the rest were new megabytes for every batch.
 */
const SPARE_BATCHES = 32;
/** Bytes handed over and not yet hashed above which the stream reports `behind`. */
const MAX_BEHIND_BYTES = 64 * 1024 * 1024;

/** What streamHash computes: a file's sha256, or an S3 body's MD5 (its ETag). */
export type StreamHashAlgorithm = 'sha256' | 'md5';

export interface StreamHash {
  update(bytes: Uint8Array): void;
  /** Whether the thread is far behind: the caller should stop reading until caughtUp(). */
  readonly behind: boolean;
  /** Resolves once the thread is no longer behind. */
  caughtUp(): Promise<void>;
  /** The hex digest of every byte given; the stream is finished after it. */
  digest(): Promise<string>;
  /** Drops the stream without a digest (a download that failed). */
  close(): void;
}

/** A hash for a stream of about expectedBytes: on the thread when that is large. */
export function streamHash(algorithm: StreamHashAlgorithm, expectedBytes: number): StreamHash {
  return expectedBytes >= THREAD_MIN_BYTES
    ? hashThread().open(algorithm)
    : new InPlaceHash(algorithm);
}

class InPlaceHash implements StreamHash {
  readonly #hash: Hash;
  constructor(algorithm: StreamHashAlgorithm) {
    this.#hash = createHash(algorithm);
  }
  readonly behind = false;
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }
  caughtUp(): Promise<void> {
    return Promise.resolve();
  }
  digest(): Promise<string> {
    return Promise.resolve(this.#hash.digest('hex'));
  }
  close(): void {}
}

/**
 * The thread's code, plain JavaScript run with `eval` (the same text whether lanfs
 * runs from its TypeScript sources or from dist/). Messages: {id, algorithm, buffer, length}
 * hashes (answered {id, hashed, buffer}: the buffer comes back), {id, end: true}
 * answers {id, digest}, {id, drop: true} forgets a stream.
 */
const THREAD_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const hashes = new Map();
parentPort.on('message', (m) => {
  let hash = hashes.get(m.id);
  if (m.drop) { hashes.delete(m.id); return; }
  if (!hash) { hash = createHash(m.algorithm); hashes.set(m.id, hash); }
  if (m.end) {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: hash.digest('hex') });
    return;
  }
  hash.update(new Uint8Array(m.buffer, 0, m.length));
  // The buffer goes back, to be filled again: no new memory per batch.
  parentPort.postMessage({ id: m.id, hashed: m.length, buffer: m.buffer }, [m.buffer]);
});
`;

type Answer = { id: number; hashed: number; buffer: ArrayBuffer } | { id: number; digest: string };

/** One stream's side of the thread: its batch, how far the thread is, its digest. */
class ThreadedHash implements StreamHash {
  readonly #thread: HashThread;
  readonly #id: number;
  readonly #algorithm: StreamHashAlgorithm;
  #batch: Uint8Array | undefined;
  #batched = 0;
  #handedOver = 0;
  #hashed = 0;
  #failure: Error | undefined;
  #closed = false;
  /** One promise for every caller waiting to read on (a download may ask more than once). */
  #caughtUp: { promise: Promise<void>; resolve: () => void } | undefined;
  #finish: { resolve: (digest: string) => void; reject: (err: Error) => void } | undefined;

  constructor(thread: HashThread, id: number, algorithm: StreamHashAlgorithm) {
    this.#thread = thread;
    this.#id = id;
    this.#algorithm = algorithm;
  }

  // Copied into a batch buffer of the thread's (the pieces are views of socket
  // buffers the caller still writes from), handed over when full.
  update(bytes: Uint8Array): void {
    if (this.#failure) return; // digest() says why; hashing the rest would be waste
    for (let at = 0; at < bytes.length;) {
      this.#batch ??= new Uint8Array(this.#thread.spareBuffer());
      const take = Math.min(bytes.length - at, BATCH_BYTES - this.#batched);
      this.#batch.set(bytes.subarray(at, at + take), this.#batched);
      this.#batched += take;
      at += take;
      if (this.#batched === BATCH_BYTES) this.#handOver();
    }
  }

  get behind(): boolean {
    return this.#failure === undefined && this.#handedOver - this.#hashed > MAX_BEHIND_BYTES;
  }

  caughtUp(): Promise<void> {
    if (!this.behind) return Promise.resolve();
    if (!this.#caughtUp) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#caughtUp = { promise, resolve };
    }
    return this.#caughtUp.promise;
  }

  async digest(): Promise<string> {
    if (this.#failure) throw this.#failure;
    if (this.#closed || this.#finish)
      throw new Error('lanfs bug: a hash stream digested twice or after close()');
    this.#handOver();
    return await new Promise<string>((resolve, reject) => {
      this.#finish = { resolve, reject };
      this.#thread.ask(this.#id, { id: this.#id, algorithm: this.#algorithm, end: true });
    });
  }

  close(): void {
    this.#closed = true;
    // A digest still on its way never comes now: whoever waits for it is told.
    this.#finish?.reject(new Error('the hash stream was closed before its digest came'));
    this.#release();
    this.#thread.forget(this.#id);
  }

  onHashed(bytes: number): void {
    this.#hashed += bytes;
    if (this.#handedOver - this.#hashed <= MAX_BEHIND_BYTES / 2) this.#release();
  }

  onDigest(digest: string): void {
    this.#finish?.resolve(digest);
  }

  onFailed(err: Error): void {
    this.#failure = err;
    this.#release();
    this.#finish?.reject(err);
  }

  /** Lets every caller waiting in caughtUp() read on. */
  #release(): void {
    this.#caughtUp?.resolve();
    this.#caughtUp = undefined;
  }

  #handOver(): void {
    if (!this.#batch || this.#batched === 0) return;
    this.#handedOver += this.#batched;
    const buffer = this.#batch.buffer as ArrayBuffer;
    this.#thread.ask(
      this.#id,
      { id: this.#id, algorithm: this.#algorithm, buffer, length: this.#batched },
      [buffer],
    );
    this.#batch = undefined;
    this.#batched = 0;
  }
}

/** The worker thread every large stream of the process shares, started at the first. */
class HashThread {
  #worker: Worker | undefined;
  #nextId = 1;
  /** Messages sent that await an answer: while there are any, the thread keeps the process alive. */
  #awaited = 0;
  readonly #streams = new Map<number, ThreadedHash>();
  /** Batch buffers back from the thread, to be filled again. */
  readonly #spare: ArrayBuffer[] = [];

  open(algorithm: StreamHashAlgorithm): StreamHash {
    const id = this.#nextId++;
    const stream = new ThreadedHash(this, id, algorithm);
    this.#streams.set(id, stream);
    return stream;
  }

  spareBuffer(): ArrayBuffer {
    return this.#spare.pop() ?? new ArrayBuffer(BATCH_BYTES);
  }

  ask(id: number, message: object, transfer: ArrayBuffer[] = []): void {
    if (!this.#streams.has(id)) return;
    const worker = this.#started();
    if (this.#awaited++ === 0) worker.ref();
    worker.postMessage(message, transfer);
  }

  /** The stream is done with (digest given, or dropped): the thread forgets it too. */
  forget(id: number): void {
    if (this.#streams.delete(id)) this.#worker?.postMessage({ id, drop: true });
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.on('message', (answer: Answer) => {
      if (this.#worker !== worker) return; // a thread that failed: its streams failed with it
      // Idle, the thread never keeps the process alive.
      if (--this.#awaited === 0) worker.unref();
      const stream = this.#streams.get(answer.id);
      if ('digest' in answer) {
        this.#streams.delete(answer.id);
        stream?.onDigest(answer.digest);
        return;
      }
      if (this.#spare.length < SPARE_BATCHES) this.#spare.push(answer.buffer);
      stream?.onHashed(answer.hashed);
    });
    const fail = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#awaited = 0;
      const failure = new LanfsError(
        'LANFS_ERR_INTERNAL',
        `The bytes could not be checked (the hashing thread stopped: ${err.message}); nothing was kept, try again.`,
      );
      for (const stream of this.#streams.values()) stream.onFailed(failure);
      this.#streams.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  /** For a test: ends the thread as a crash would. */
  async crashForTest(): Promise<void> {
    // The thread unrefs itself once idle: something must hold the process while it ends.
    const holdOn = setInterval(() => undefined, 1000);
    try {
      await this.#worker?.terminate();
    } finally {
      clearInterval(holdOn);
    }
  }
}

let shared: HashThread | undefined;
const hashThread = (): HashThread => (shared ??= new HashThread());

/** For tests: stops the shared thread as a crash would (the next large stream starts another). */
export const hashThreadForTest = {
  crash: async (): Promise<void> => await shared?.crashForTest(),
};
