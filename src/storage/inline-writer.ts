/**
 * Writes the plain files of small changes (DIR/NAME of a create, an edit or a
 * copy whose bytes are in the journal) on one worker thread, in batches: every
 * file asked for in the same turn of the event loop goes in one message. The
 * caller gets what it would get from fs: the file's identity, or an error with
 * its errno code. Files are not flushed when written; the checkpoint asks for
 * that later, here too (flush).
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

/** The answer to one file of a batch, as the thread sends it. */
type Answer =
  InlineResult | { ok: true } | { ok: false; code: string | undefined; message: string };

interface Sent {
  settle: (answers: Answer[]) => void;
  fail: (err: Error) => void;
}

/** Files flushed per message: the writes of new changes get their turn in between. */
const FLUSH_SLICE_FILES = 64;

/**
 * The thread's code, plain JavaScript run with `eval` (the same text whether lanfs
 * runs from its TypeScript sources or from dist/). One batch per message: files
 * to write (each created exclusively, and removed again if a later step fails,
 * so a half-written file is never left where a scan would adopt it), or files
 * and folders to flush.
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
function flush(item) {
  let fd;
  try {
    fd = fs.openSync(item.path, fs.constants.O_RDONLY | (item.folder ? fs.constants.O_DIRECTORY : fs.constants.O_NOFOLLOW));
  } catch (err) {
    return failed(err);
  }
  try {
    fs.fsyncSync(fd);
    return { ok: true };
  } catch (err) {
    return failed(err);
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (batch) => {
  parentPort.postMessage({ id: batch.id, results: batch.jobs ? batch.jobs.map(write) : batch.flush.map(flush) });
});
`;

export class InlineWriter {
  #worker: Worker | undefined;
  #queued: { job: InlineJob; resolve: (r: InlineResult) => void; reject: (e: Error) => void }[] =
    [];
  #flushing = false;
  #nextBatch = 0;
  readonly #sent = new Map<number, Sent>();
  #closed = false;

  /** Writes job's file; rejects with an Error carrying the errno code (EEXIST, ENOENT, ENOSPC…). */
  async write(job: InlineJob): Promise<{ size: number; ino: number; mtimeMs: number }> {
    if (this.#closed) throw new StorageError('The server is stopping; nothing more is saved.');
    const result = await new Promise<InlineResult>((resolve, reject) => {
      this.#queued.push({ job, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => this.#sendWrites());
      }
    });
    if (!result.ok) throw errnoError(result);
    return { size: result.size, ino: result.ino, mtimeMs: result.mtimeMs };
  }

  /**
   * Flushes (fsync) each file or folder, a slice at a time so that new changes are
   * written in between; answers an error (with its errno code) or undefined for each.
   */
  async flush(items: { path: string; folder: boolean }[]): Promise<(Error | undefined)[]> {
    const errors: (Error | undefined)[] = [];
    for (let i = 0; i < items.length; i += FLUSH_SLICE_FILES) {
      const slice = items.slice(i, i + FLUSH_SLICE_FILES);
      const answers = await this.#post({ flush: slice }, []);
      for (const answer of answers) errors.push(answer.ok ? undefined : errnoError(answer));
    }
    return errors;
  }

  /** Stops the thread once what was sent is written. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#sent.size > 0 || this.#queued.length > 0)
      await new Promise((r) => setTimeout(r, 5));
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #sendWrites(): void {
    this.#flushing = false;
    const batch = this.#queued.splice(0);
    if (batch.length === 0) return;
    // Each file's bytes copied once into a buffer of their own and handed over (not
    // cloned): a Buffer is often a view of a larger one, which a clone copies whole.
    const jobs = batch.map(({ job }) => ({ ...job, bytes: new Uint8Array(job.bytes) }));
    this.#post(
      { jobs },
      jobs.map((job) => job.bytes.buffer),
    ).then(
      (answers) => answers.forEach((answer, i) => batch[i]?.resolve(answer as InlineResult)),
      (err: Error) => batch.forEach((b) => b.reject(err)),
    );
  }

  #post(message: object, transfer: ArrayBuffer[]): Promise<Answer[]> {
    const worker = this.#started();
    const id = this.#nextBatch++;
    return new Promise<Answer[]>((settle, fail) => {
      this.#sent.set(id, { settle, fail });
      worker.ref();
      worker.postMessage({ id, ...message }, transfer);
    });
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.on('message', (answer: { id: number; results: Answer[] }) => {
      const sent = this.#sent.get(answer.id);
      this.#sent.delete(answer.id);
      sent?.settle(answer.results);
      if (this.#sent.size === 0) worker.unref();
    });
    // The thread itself failing (never a file's error, which comes as a result).
    const fail = (err: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const sent of this.#sent.values())
        sent.fail(new StorageError(`The file writer stopped: ${err.message}`));
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

/** An fs-like error: the message and errno code the thread saw. */
function errnoError(answer: { code: string | undefined; message: string }): Error {
  return Object.assign(new Error(answer.message), { code: answer.code });
}
