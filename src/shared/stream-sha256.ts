/**
 * The sha256 of a byte stream, computed on a worker thread when the stream is
 * large. A download's receiving thread reads the socket, writes the file and
 * hashes; the hash was a third of that thread's time on a 512 MiB download
 * (0.32 s of 0.86 s), while the machine's other core had little to do. The bytes
 * are copied into batch buffers of BATCH_BYTES and handed over (transferred, not
 * cloned) to one thread shared by every large stream of the process, which sends
 * each buffer back to be filled again: a new buffer per batch made the download
 * slower than hashing in place (fresh memory for every MiB). A stream shorter than
 * THREAD_MIN_BYTES is hashed in place: a hand-off would cost it more than it saves.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { StorageError } from './errors.ts';

/** Streams at least this long are hashed on the thread. */
export const THREAD_MIN_BYTES = 8 * 1024 * 1024;
/** Bytes gathered before one hand-off to the thread. */
const BATCH_BYTES = 1024 * 1024;
/** Batch buffers kept for reuse (the thread usually keeps up: two or three circulate). */
const SPARE_BATCHES = 8;
/** Bytes handed over and not yet hashed above which the stream reports `behind`. */
const MAX_BEHIND_BYTES = 64 * 1024 * 1024;

export interface StreamSha256 {
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
export function streamSha256(expectedBytes: number): StreamSha256 {
  return expectedBytes >= THREAD_MIN_BYTES ? hashThread().open() : new InPlaceSha256();
}

class InPlaceSha256 implements StreamSha256 {
  readonly #hash: Hash = createHash('sha256');
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
 * runs from its TypeScript sources or from dist/). Messages: {id, buffer, length}
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
  if (!hash) { hash = createHash('sha256'); hashes.set(m.id, hash); }
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

interface Open {
  onHashed: (bytes: number) => void;
  onDigest: (digest: string) => void;
  onFailed: (err: Error) => void;
}

class HashThread {
  #worker: Worker | undefined;
  #nextId = 1;
  /** Messages sent that await an answer: while there are any, the thread keeps the process alive. */
  #awaited = 0;
  readonly #open = new Map<number, Open>();
  /** Batch buffers back from the thread, to be filled again. */
  readonly #spare: ArrayBuffer[] = [];

  open(): StreamSha256 {
    const id = this.#nextId++;
    let batch: Uint8Array | undefined;
    let batched = 0;
    let handedOver = 0;
    let hashed = 0;
    let failure: Error | undefined;
    let catchUp: (() => void) | undefined;
    let finish: { resolve: (d: string) => void; reject: (e: Error) => void } | undefined;
    this.#open.set(id, {
      onHashed: (bytes) => {
        hashed += bytes;
        if (catchUp && handedOver - hashed <= MAX_BEHIND_BYTES / 2) {
          catchUp();
          catchUp = undefined;
        }
      },
      onDigest: (digest) => {
        this.#close(id);
        finish?.resolve(digest);
      },
      onFailed: (err) => {
        failure = err;
        catchUp?.();
        finish?.reject(err);
      },
    });
    const isBehind = (): boolean => failure === undefined && handedOver - hashed > MAX_BEHIND_BYTES;
    const handOver = (): void => {
      if (!batch || batched === 0) return;
      handedOver += batched;
      this.#ask({ id, buffer: batch.buffer, length: batched }, [batch.buffer as ArrayBuffer]);
      batch = undefined;
      batched = 0;
    };
    return {
      // Copied into a batch buffer of the thread's (the pieces are views of socket
      // buffers the caller still writes from), handed over when full.
      update: (bytes: Uint8Array): void => {
        for (let at = 0; at < bytes.length;) {
          batch ??= new Uint8Array(this.#spare.pop() ?? new ArrayBuffer(BATCH_BYTES));
          const take = Math.min(bytes.length - at, BATCH_BYTES - batched);
          batch.set(bytes.subarray(at, at + take), batched);
          batched += take;
          at += take;
          if (batched === BATCH_BYTES) handOver();
        }
      },
      get behind(): boolean {
        return isBehind();
      },
      caughtUp: (): Promise<void> => {
        if (!isBehind()) return Promise.resolve();
        return new Promise((resolve) => {
          catchUp = resolve;
        });
      },
      digest: async (): Promise<string> => {
        if (failure) throw failure;
        handOver();
        return await new Promise<string>((resolve, reject) => {
          finish = { resolve, reject };
          this.#ask({ id, end: true });
        });
      },
      close: (): void => {
        if (!this.#open.has(id)) return;
        this.#close(id);
        this.#worker?.postMessage({ id, drop: true });
      },
    };
  }

  #close(id: number): void {
    this.#open.delete(id);
  }

  #ask(message: object, transfer: ArrayBuffer[] = []): void {
    const worker = this.#started();
    if (this.#awaited++ === 0) worker.ref();
    worker.postMessage(message, transfer);
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.on('message', (answer: Answer) => {
      // Idle, the thread never keeps the process alive.
      if (--this.#awaited === 0) worker.unref();
      const open = this.#open.get(answer.id);
      if ('digest' in answer) open?.onDigest(answer.digest);
      else {
        if (this.#spare.length < SPARE_BATCHES) this.#spare.push(answer.buffer);
        open?.onHashed(answer.hashed);
      }
    });
    const fail = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#awaited = 0;
      const failure = new StorageError(`The sha256 thread stopped: ${err.message}`);
      for (const open of this.#open.values()) open.onFailed(failure);
      this.#open.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}

let shared: HashThread | undefined;
const hashThread = (): HashThread => (shared ??= new HashThread());
