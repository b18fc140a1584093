/**
 * Writes the plain files of small changes (DIR/NAME of a create, an edit or a
 * copy whose bytes are in the journal) on one worker thread, in batches: every
 * file asked for in the same turn of the event loop goes in one message. The
 * caller gets what it would get from fs: the file's identity, or an error with
 * its errno code. Files are not flushed here unless asked (the checkpoint does).
 * One thread writing them one after the other, rather than a thread-pool hand-off
 * for each open, write, stat, close and rename, costs the event loop one message
 * each way per batch, and spares the I/O threads a fight over each folder's lock.
 */
import { Worker } from 'node:worker_threads';
import { StorageError } from '../shared/errors.ts';

/** One file to write: at path, or at tempPath and then renamed to path. */
export interface InlineJob {
  path: string;
  tempPath?: string;
  bytes: Uint8Array;
  durable: boolean;
}

export type InlineResult =
  | { ok: true; size: number; ino: number; mtimeMs: number }
  | { ok: false; code: string | undefined; message: string };

interface Waiting {
  resolve: (result: { size: number; ino: number; mtimeMs: number }) => void;
  reject: (err: Error) => void;
}

/**
 * The thread's code, plain JavaScript run with `eval` (the same text whether lanfs
 * runs from its TypeScript sources or from dist/). One batch per message; each
 * file created exclusively, and removed again if a later step fails, so a
 * half-written file is never left where a scan would adopt it.
 */
const THREAD_SOURCE = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const failed = (err) => ({ ok: false, code: err.code, message: err.message });
function write(job) {
  const target = job.tempPath ?? job.path;
  let fd;
  try {
    fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (err) {
    return failed(err);
  }
  try {
    let written = 0;
    while (written < job.bytes.length)
      written += fs.writeSync(fd, job.bytes, written, job.bytes.length - written);
    if (job.durable) fs.fsyncSync(fd);
    const st = fs.fstatSync(fd);
    fs.closeSync(fd);
    fd = -1;
    if (job.tempPath !== undefined) fs.renameSync(job.tempPath, job.path);
    return { ok: true, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    if (fd >= 0) fs.closeSync(fd);
    try { fs.unlinkSync(target); } catch {}
    return failed(err);
  }
}
parentPort.on('message', (batch) => {
  parentPort.postMessage({ id: batch.id, results: batch.jobs.map(write) });
});
`;

export class InlineWriter {
  #worker: Worker | undefined;
  #queued: { job: InlineJob; waiting: Waiting }[] = [];
  #scheduled = false;
  #nextBatch = 0;
  readonly #sent = new Map<number, Waiting[]>();
  #closed = false;

  /** Writes job's file; rejects with an Error carrying the errno code (EEXIST, ENOENT, ENOSPC…). */
  async write(job: InlineJob): Promise<{ size: number; ino: number; mtimeMs: number }> {
    if (this.#closed) throw new StorageError('The server is stopping; nothing more is saved.');
    return await new Promise((resolve, reject) => {
      this.#queued.push({ job, waiting: { resolve, reject } });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#send());
      }
    });
  }

  /** Stops the thread once what was sent is written. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#sent.size > 0 || this.#queued.length > 0)
      await new Promise((r) => setTimeout(r, 5));
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #send(): void {
    this.#scheduled = false;
    const batch = this.#queued.splice(0);
    if (batch.length === 0) return;
    const id = this.#nextBatch++;
    this.#sent.set(
      id,
      batch.map((b) => b.waiting),
    );
    const worker = this.#started();
    worker.ref();
    // Each file's bytes copied once into a buffer of their own and handed over (not
    // cloned): a Buffer is often a view of a larger one, which a clone copies whole.
    const jobs = batch.map(({ job }) => ({ ...job, bytes: new Uint8Array(job.bytes) }));
    worker.postMessage(
      { id, jobs },
      jobs.map((job) => job.bytes.buffer),
    );
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.on('message', (answer: { id: number; results: InlineResult[] }) => {
      const waiting = this.#sent.get(answer.id) ?? [];
      this.#sent.delete(answer.id);
      answer.results.forEach((result, i) => {
        const w = waiting[i];
        if (!w) return;
        if (result.ok) w.resolve({ size: result.size, ino: result.ino, mtimeMs: result.mtimeMs });
        else w.reject(Object.assign(new Error(result.message), { code: result.code }));
      });
      if (this.#sent.size === 0) worker.unref();
    });
    // The thread itself failing (never a file's error, which comes as a result).
    const fail = (err: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#sent.values())
        for (const w of waiting)
          w.reject(new StorageError(`The file writer stopped: ${err.message}`));
      this.#sent.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.#closed) fail(new Error(`exit code ${code}`));
    });
    this.#worker = worker;
    return worker;
  }
}
