/**
 * The requests a dialing side runs on one connection, each on its own stream id,
 * several at a time, and the file bodies they move (an upload's DATA… END, a
 * download's FILE, DATA… END checked against the record's sha256, in download.ts).
 * Both a client (client/server-connection.ts) and a server talking to a peer
 * (cluster/peer-link.ts) dial and ask this way; what to ask, and where to go on a
 * REDIRECT, stays with them: a REDIRECT answer rejects with Redirect.
 *
 * A peer that froze keeps its socket open: a request in flight with nothing
 * moving either way for the silence timeout ends the connection, so its requests
 * fail and their callers move on.
 */
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import type { BodyOf, ControlMessageName, FileRecord, Message } from '../protocol/messages.ts';
import {
  ConnectionClosedError,
  errorFromWire,
  ProtocolError,
  TimeoutError,
} from '../shared/errors.ts';
import type { Connection } from './connection.ts';
import {
  Download,
  newDownloadProgress,
  type DownloadOptions,
  type DownloadProgress,
} from './download.ts';

export { newDownloadProgress, type DownloadOptions, type DownloadProgress };

const WATCHDOG_INTERVAL_MS = 500;

export type UploadType = 'CREATE' | 'EDIT' | 'REPLICA_PUT';
export type UploadBody = BodyOf<'CREATE'> | BodyOf<'EDIT'> | BodyOf<'REPLICA_PUT'>;
type AskType =
  | 'LIST'
  | 'STATUS'
  | 'DELETE'
  | 'DOWNLOAD'
  | 'REPLICA_DELETE'
  | 'WATCH'
  | 'HISTORY'
  | 'TRASH'
  | 'UNDELETE'
  | 'LEASE'
  | 'LEASES'
  | 'RESTORE'
  | 'PEER_EVENT'
  | 'SCRUB'
  | 'FAULT';

/** Feeds the answers of one request; the request ends when finish() is called. */
export type AnswerHandler = (message: Message, finish: () => void) => void;

/** An upload in progress, fed by its caller chunk by chunk (see RequestStreams.openUpload). */
export interface UploadWriter {
  readonly size: number;
  write: (chunk: Buffer) => Promise<void>;
  /**
   * Sends END (with the S3 ETag of a copy, when the version has one). An upload
   * opened with `sha256Later` sends the sha256 given here instead of hashing.
   */
  end: (extra?: { s3ETag?: string; sha256?: string }) => Promise<FileRecord>;
  /**
   * A copy only (REPLICA_PUT): asks the other end for the size and sha256 of what it
   * received so far (REPLICA_SUM), after every byte written before the call.
   */
  sum: () => Promise<BodyOf<'REPLICA_SUM_RESULT'>>;
  cancel: () => void;
}

/** The other end does not hold the file and names a server that does. */
export class Redirect extends Error {
  readonly serverId: number;
  readonly address: string;
  constructor(serverId: number, address: string) {
    super(`redirected to server ${serverId} at ${address}`);
    this.serverId = serverId;
    this.address = address;
  }
}

/** A request ended from this side (its signal aborted). */
export class RequestStopped extends Error {}

interface StreamHandler {
  onMessage: (message: Message) => void;
  onClose: (err: Error) => void;
}

export class RequestStreams {
  readonly #connection: Connection;
  readonly #streams = new Map<number, StreamHandler>();
  /** Streams that may stay quiet for ever (a WATCH): not watched for silence. */
  readonly #quiet = new Set<number>();
  #nextStreamId = 1;
  /** When the last message arrived (Date.now()). */
  #receivedAt = 0;

  /** `silent` is the sentence of the TimeoutError when the other end stops answering. */
  constructor(connection: Connection, silenceTimeoutMs: number, silent: string) {
    this.#connection = connection;
    connection.setHandler((message) => this.#onMessage(message));
    let written = connection.socket.bytesWritten;
    let movedAt = Date.now();
    const watchdog = setInterval(() => {
      if (
        this.#streams.size === this.#quiet.size ||
        connection.socket.bytesWritten !== written ||
        this.#receivedAt > movedAt
      ) {
        written = connection.socket.bytesWritten;
        movedAt = Math.max(Date.now(), this.#receivedAt);
        return;
      }
      if (Date.now() - movedAt > silenceTimeoutMs) connection.destroy(new TimeoutError(silent));
    }, WATCHDOG_INTERVAL_MS);
    watchdog.unref();
    connection.onClose((err) => {
      clearInterval(watchdog);
      const error = err ?? new ConnectionClosedError();
      for (const handler of this.#streams.values()) handler.onClose(error);
      this.#streams.clear();
    });
  }

  get closed(): boolean {
    return this.#connection.closed;
  }

  close(): void {
    this.#connection.close();
  }

  /**
   * Sends one request and feeds its answers to onAnswer until it calls finish().
   * A `quiet` request (a WATCH) is exempt from the silence watchdog; when `signal`
   * aborts, the request ends from this side, rejecting with RequestStopped.
   */
  /** A request answered by one message of type answer: its body. */
  async ask<K extends AskType, A extends ControlMessageName>(
    type: K,
    body: BodyOf<K>,
    answer: A,
  ): Promise<BodyOf<A>> {
    let result: BodyOf<A> | undefined;
    await this.request(type, body, (message, finish) => {
      if (message.type !== answer)
        throw new ProtocolError(`Expected ${answer}, got ${message.type}.`);
      result = message.body as BodyOf<A>;
      finish();
    });
    return result!;
  }

  async request<K extends AskType>(
    type: K,
    body: BodyOf<K>,
    onAnswer: AnswerHandler,
    options: { quiet?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    const streamId = this.#nextStreamId++;
    const stop = (): void => this.#streams.get(streamId)?.onClose(new RequestStopped());
    if (options.quiet) this.#quiet.add(streamId);
    options.signal?.addEventListener('abort', stop, { once: true });
    try {
      const answered = this.#open(streamId, onAnswer);
      this.#connection.send(type, streamId, body as never);
      await answered;
    } finally {
      options.signal?.removeEventListener('abort', stop);
      this.#quiet.delete(streamId);
    }
  }

  /**
   * Streams the bytes of a file into sink (which the caller ends), resuming at
   * progress.received against the same version, and checks the whole file against
   * its sha256 before resolving. On a mismatch it rejects, and the caller must
   * throw away what the sink received.
   */
  async download(
    name: string,
    sink: Writable,
    options: DownloadOptions = {},
    resumable?: DownloadProgress,
  ): Promise<FileRecord> {
    // Without a progress from the caller nothing resumes this download: its hash is
    // dropped when it fails.
    const progress = resumable ?? newDownloadProgress();
    const download = new Download(name, sink, options, progress, this.#connection);
    try {
      await this.request('DOWNLOAD', download.request, (message, finish) =>
        download.onAnswer(message, finish),
      );
    } catch (err) {
      if (!resumable) progress.hash?.close();
      throw err;
    } finally {
      download.ended();
    }
    return await download.verify();
  }

  /**
   * An upload fed chunk by chunk. write() waits only while the socket is full; it
   * rejects as soon as the other end refuses or redirects. end() sends END and
   * resolves with the record stored.
   */
  openUpload(
    type: UploadType,
    body: UploadBody,
    options: {
      /**
       * The caller knows the bytes' sha256 (a copy of what the primary has already
       * checked) and gives it to end(): nothing is hashed here.
       */
      sha256Later?: boolean;
    } = {},
  ): UploadWriter {
    const streamId = this.#nextStreamId++;
    const connection = this.#connection;
    let refusal: Error | undefined;
    let record: FileRecord | undefined;
    const sums: ((sum: BodyOf<'REPLICA_SUM_RESULT'>) => void)[] = [];
    const answered = this.#open(streamId, (message, finish) => {
      if (message.type === 'REPLICA_SUM_RESULT' && sums.length > 0) {
        sums.shift()!(message.body);
        return;
      }
      if (message.type !== 'DONE') throw new ProtocolError(`Expected DONE, got ${message.type}.`);
      record = message.body.record ?? undefined;
      finish();
    });
    answered.catch((err: Error) => {
      refusal = err;
    });
    const hash = createHash('sha256');
    let size = 0;
    let finished = false;
    // The request, the bytes and END of a small file leave in one packet.
    connection.cork();
    let corked = true;
    const uncork = (): void => {
      if (corked) connection.uncork();
      corked = false;
    };
    connection.send(type, streamId, body);
    return {
      get size() {
        return size;
      },
      write: async (chunk: Buffer): Promise<void> => {
        for (let offset = 0; offset < chunk.length; offset += DATA_CHUNK_BYTES) {
          if (refusal) throw refusal;
          const part = chunk.subarray(offset, offset + DATA_CHUNK_BYTES);
          if (!options.sha256Later) hash.update(part);
          size += part.length;
          if (connection.sendData(streamId, part)) continue;
          uncork();
          await Promise.race([connection.drain(), answered]);
        }
        if (refusal) throw refusal;
      },
      end: async (extra: { s3ETag?: string; sha256?: string } = {}): Promise<FileRecord> => {
        if (refusal) {
          uncork();
          throw refusal;
        }
        finished = true;
        if (options.sha256Later && extra.sha256 === undefined) {
          connection.send('CANCEL', streamId, {});
          uncork();
          throw new Error('lanfs bug: an upload opened with sha256Later ended without its sha256.');
        }
        const sha256 = options.sha256Later ? extra.sha256! : hash.digest('hex');
        connection.send(
          'END',
          streamId,
          extra.s3ETag ? { size, sha256, s3ETag: extra.s3ETag } : { size, sha256 },
        );
        uncork();
        await answered;
        if (!record) throw new ProtocolError('The upload was acknowledged without a record.');
        return record;
      },
      sum: async (): Promise<BodyOf<'REPLICA_SUM_RESULT'>> => {
        if (refusal) throw refusal;
        if (type !== 'REPLICA_PUT') throw new Error('lanfs bug: only a copy is asked for its sum.');
        const sum = new Promise<BodyOf<'REPLICA_SUM_RESULT'>>((resolve) => sums.push(resolve));
        connection.send('REPLICA_SUM', streamId, {});
        uncork();
        // The stream ending first (an error, the connection lost) rejects here instead.
        return await Promise.race([
          sum,
          answered.then(() => {
            throw new ProtocolError('The copy ended its stream without answering REPLICA_SUM.');
          }),
        ]);
      },
      cancel: (): void => {
        uncork();
        if (finished) return;
        finished = true;
        connection.send('CANCEL', streamId, {});
        if (!refusal) this.#streams.delete(streamId);
      },
    };
  }

  #open(streamId: number, onAnswer: AnswerHandler): Promise<void> {
    if (this.#connection.closed) return Promise.reject(new ConnectionClosedError());
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        this.#streams.delete(streamId);
        if (err) reject(err);
        else resolve();
      };
      this.#streams.set(streamId, {
        onMessage: (message) => {
          if (message.type === 'ERROR')
            return done(errorFromWire(message.body.code, message.body.message));
          if (message.type === 'REDIRECT')
            return done(new Redirect(message.body.serverId, message.body.address));
          try {
            onAnswer(message, () => done());
          } catch (err) {
            done(err as Error);
          }
        },
        onClose: (err) => done(err),
      });
    });
  }

  #onMessage(message: Message): void {
    this.#receivedAt = Date.now();
    if (message.streamId === 0) {
      if (message.type === 'ERROR')
        this.#connection.destroy(errorFromWire(message.body.code, message.body.message));
      return;
    }
    this.#streams.get(message.streamId)?.onMessage(message);
  }
}

/** An AnswerHandler for requests answered by one DONE. */
export function expectDone(message: Message, finish: () => void): void {
  if (message.type !== 'DONE') throw new ProtocolError(`Expected DONE, got ${message.type}.`);
  finish();
}
