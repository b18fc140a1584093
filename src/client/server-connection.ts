/**
 * One authenticated connection from a client to one server, and the requests
 * on it: each on its own stream, several at a time. A REDIRECT answer rejects
 * the request with a Redirect (the LanfsClient above follows it); nothing here
 * decides where to go.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import type { BodyOf, FileRecord, LanfsEvent, Message } from '../protocol/messages.ts';
import {
  ChecksumMismatchError,
  ConnectionClosedError,
  errorFromWire,
  LanfsError,
  ProtocolError,
  TimeoutError,
  UsageError,
} from '../shared/errors.ts';
import type { Connection } from '../transport/connection.ts';
import { dialConnection } from '../transport/dial.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';

/** Bytes to upload: a stream or list of chunks. */
export type UploadSource = AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

export interface TransferOptions {
  /** Called as bytes move: done so far and the total (null when unknown). */
  onProgress?: (done: number, total: number | null) => void;
}

export interface UploadOptions extends TransferOptions {
  /** Size of the content if known in advance (lets the server refuse early). */
  size?: number | null;
}

export interface DownloadOptions extends TransferOptions {
  /** Called once the server has found the file, before any byte is written. */
  onStart?: (record: FileRecord) => void;
}

/** A request with nothing moving either way for this long means the server is gone. */
export const DEFAULT_SILENCE_TIMEOUT_MS = 8000;
const WATCHDOG_INTERVAL_MS = 500;

export type UploadType = 'CREATE' | 'EDIT' | 'REPLICA_PUT';
export type UploadBody = BodyOf<'CREATE'> | BodyOf<'EDIT'> | BodyOf<'REPLICA_PUT'>;

/** An upload in progress, fed by its caller (see ServerConnection.openUpload). */
export interface UploadWriter {
  readonly size: number;
  write: (chunk: Buffer) => Promise<void>;
  end: () => Promise<FileRecord>;
  cancel: () => void;
}

/** Where a download stands, kept across a failover so it resumes where it stopped. */
export interface DownloadProgress {
  record: FileRecord | undefined;
  received: number;
  hash: Hash;
}

export function newDownloadProgress(): DownloadProgress {
  return { record: undefined, received: 0, hash: createHash('sha256') };
}

/** The server does not hold the file and names one that does. */
export class Redirect extends Error {
  readonly serverId: number;
  readonly address: string;
  constructor(serverId: number, address: string) {
    super(`redirected to server ${serverId} at ${address}`);
    this.serverId = serverId;
    this.address = address;
  }
}

/** Ends a watch from this side (its signal aborted); never leaves ServerConnection. */
class WatchStopped extends Error {}

interface StreamHandler {
  onMessage: (message: Message) => void;
  onClose: (err: Error) => void;
}

/** host:port → parts; throws UsageError for anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new UsageError(
      `"${address}" is not a server address; write it as HOST:PORT, e.g. 192.168.1.20:7070.`,
    );
  }
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export function newRequestId(): string {
  return randomBytes(12).toString('hex');
}

export class ServerConnection {
  readonly address: string;
  readonly welcome: BodyOf<'WELCOME'>;
  readonly #connection: Connection;
  readonly #streams = new Map<number, StreamHandler>();
  /** Streams of WATCH requests: quiet for as long as nothing happens, so no watchdog. */
  readonly #watches = new Set<number>();
  #nextStreamId = 1;
  /** When the last message arrived (Date.now()). */
  #receivedAt = 0;

  private constructor(
    connection: Connection,
    welcome: BodyOf<'WELCOME'>,
    address: string,
    silenceTimeoutMs: number,
  ) {
    this.#connection = connection;
    this.welcome = welcome;
    this.address = address;
    connection.setHandler((message) => this.#onMessage(message));
    // A server that froze (or whose host vanished) never closes the socket: a request
    // in flight with nothing moving either way for silenceTimeoutMs ends the connection.
    let written = connection.socket.bytesWritten;
    let movedAt = Date.now();
    const watchdog = setInterval(() => {
      if (
        this.#streams.size === this.#watches.size ||
        connection.socket.bytesWritten !== written ||
        this.#receivedAt > movedAt
      ) {
        written = connection.socket.bytesWritten;
        movedAt = Math.max(Date.now(), this.#receivedAt);
        return;
      }
      if (Date.now() - movedAt > silenceTimeoutMs) {
        connection.destroy(
          new TimeoutError(
            `Server ${welcome.serverId} at ${address} stopped answering (nothing for ${silenceTimeoutMs} ms).`,
          ),
        );
      }
    }, WATCHDOG_INTERVAL_MS);
    watchdog.unref();
    connection.onClose(() => clearInterval(watchdog));
    connection.onClose((err) => {
      const error = err ?? new ConnectionClosedError();
      for (const handler of this.#streams.values()) handler.onClose(error);
      this.#streams.clear();
    });
  }

  /** Connects and authenticates; throws what the dial or the handshake threw. */
  static async open(
    address: string,
    credentials: Credentials,
    timeoutMs: number,
    as: { role: 'client' } | { role: 'replicator'; serverId: number } = { role: 'client' },
    silenceTimeoutMs = DEFAULT_SILENCE_TIMEOUT_MS,
  ): Promise<ServerConnection> {
    const { host, port } = parseAddress(address);
    const connection = await dialConnection(host, port, timeoutMs, credentials.tls);
    try {
      const serverId = as.role === 'replicator' ? as.serverId : undefined;
      const welcome = await dialHandshake(connection, as.role, credentials, {
        timeoutMs,
        serverId,
      });
      return new ServerConnection(connection, welcome, address, silenceTimeoutMs);
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#connection.closed;
  }

  close(): void {
    this.#connection.close();
  }

  async list(): Promise<FileRecord[]> {
    const records: FileRecord[] = [];
    await this.#request('LIST', {}, (message, finish) => {
      if (message.type !== 'LIST_PAGE')
        throw new ProtocolError(`Expected LIST_PAGE, got ${message.type}.`);
      records.push(...message.body.records);
      if (message.body.done) finish();
    });
    return records;
  }

  async status(): Promise<BodyOf<'STATUS_RESULT'>> {
    let result: BodyOf<'STATUS_RESULT'> | undefined;
    await this.#request('STATUS', {}, (message, finish) => {
      if (message.type !== 'STATUS_RESULT')
        throw new ProtocolError(`Expected STATUS_RESULT, got ${message.type}.`);
      result = message.body;
      finish();
    });
    return result!;
  }

  /** Asks a server to drop its copy of a file (server to server). */
  async replicaDelete(body: BodyOf<'REPLICA_DELETE'>): Promise<void> {
    await this.#request('REPLICA_DELETE', body, (message, finish) => {
      if (message.type !== 'DONE') throw new ProtocolError(`Expected DONE, got ${message.type}.`);
      finish();
    });
  }

  async delete(body: BodyOf<'DELETE'>): Promise<void> {
    await this.#request('DELETE', body, (message, finish) => {
      if (message.type !== 'DONE') throw new ProtocolError(`Expected DONE, got ${message.type}.`);
      finish();
    });
  }

  /**
   * Streams the bytes of a file into sink (which the caller ends) and checks them
   * against the file's sha256 before resolving. On a mismatch it rejects, and the
   * caller must throw away what the sink received.
   */
  async download(
    name: string,
    sink: Writable,
    options: DownloadOptions,
    progress: DownloadProgress = newDownloadProgress(),
  ): Promise<FileRecord> {
    let waitingForSink = false;
    let resumed = progress.received > 0;
    await this.#request('DOWNLOAD', { name, offset: progress.received }, (message, finish) => {
      switch (message.type) {
        case 'FILE': {
          const record = message.body.record;
          if (resumed) {
            const before = progress.record!;
            if (
              record.fileId !== before.fileId ||
              record.version !== before.version ||
              record.sha256 !== before.sha256
            ) {
              throw new LanfsError(
                'LANFS_ERR_CONNECTION_CLOSED',
                `"${name}" changed while it was being downloaded; download it again.`,
              );
            }
            if (message.body.offset !== progress.received)
              throw new ProtocolError('The server resumed the download at another offset.');
            resumed = false;
          } else {
            progress.record = record;
            options.onStart?.(record);
          }
          options.onProgress?.(progress.received, record.size);
          return;
        }
        case 'DATA': {
          const record = progress.record;
          if (!record) throw new ProtocolError('File bytes arrived before the FILE message.');
          progress.hash.update(message.bytes);
          progress.received += message.bytes.length;
          options.onProgress?.(progress.received, record.size);
          if (!sink.write(message.bytes) && !waitingForSink) {
            // The sink is slower than the network: stop reading until it catches up.
            waitingForSink = true;
            this.#connection.pause();
            sink.once('drain', () => {
              waitingForSink = false;
              this.#connection.resume();
            });
          }
          return;
        }
        case 'END': {
          const record = progress.record;
          if (!record) throw new ProtocolError('END arrived before the FILE message.');
          if (progress.received !== record.size || progress.hash.digest('hex') !== record.sha256) {
            throw new ChecksumMismatchError(
              `The bytes of "${name}" did not match their sha256 (${progress.received} of ${record.size} bytes); nothing was kept, try again.`,
            );
          }
          finish();
          return;
        }
        default:
          throw new ProtocolError(`${message.type} is not valid during a download.`);
      }
    });
    if (waitingForSink) this.#connection.resume();
    return progress.record!;
  }

  /** Sends CREATE, EDIT or REPLICA_PUT, then the bytes and END; resolves with the record stored. */
  async upload(
    type: UploadType,
    body: UploadBody,
    source: UploadSource,
    options: UploadOptions,
  ): Promise<FileRecord> {
    const writer = this.openUpload(type, body);
    const total = options.size ?? null;
    try {
      for await (const piece of source) {
        await writer.write(typeof piece === 'string' ? Buffer.from(piece) : piece);
        options.onProgress?.(writer.size, total);
      }
    } catch (err) {
      // Refused or redirected by the server, or the source failed (e.g. an unreadable
      // local file): the server drops what it received.
      writer.cancel();
      throw err;
    }
    return await writer.end();
  }

  /**
   * An upload fed chunk by chunk (a server forwarding a file to its copies as it
   * arrives). write() waits only while the socket is full; it rejects as soon as
   * the server refuses or redirects. end() sends END and resolves with the record.
   */
  openUpload(type: UploadType, body: UploadBody): UploadWriter {
    const streamId = this.#nextStreamId++;
    const connection = this.#connection;
    let refusal: Error | undefined;
    let record: FileRecord | undefined;
    const answered = this.#open(streamId, (message, finish) => {
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
          hash.update(part);
          size += part.length;
          if (connection.sendData(streamId, part)) continue;
          uncork();
          await Promise.race([connection.drain(), answered]);
        }
        if (refusal) throw refusal;
      },
      end: async (): Promise<FileRecord> => {
        if (refusal) {
          uncork();
          throw refusal;
        }
        finished = true;
        connection.send('END', streamId, { size, sha256: hash.digest('hex') });
        uncork();
        await answered;
        if (!record)
          throw new ProtocolError('The server acknowledged the upload without a record.');
        return record;
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

  /**
   * Sends WATCH and hands every EVENT to onEvent (a `watching` notice first) until
   * signal aborts (resolves) or the connection closes (rejects with why). The
   * server goes on sending until the connection closes: close it, or ignore them.
   * A watch is exempt from the silence watchdog (a quiet cluster sends nothing).
   */
  async watch(onEvent: (event: LanfsEvent) => void, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    const streamId = this.#nextStreamId++;
    this.#watches.add(streamId);
    const stop = (): void => {
      this.#streams.get(streamId)?.onClose(new WatchStopped());
    };
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const watching = this.#open(streamId, (message) => {
        if (message.type !== 'EVENT')
          throw new ProtocolError(`Expected EVENT, got ${message.type}.`);
        onEvent(message.body);
      });
      this.#connection.send('WATCH', streamId, {});
      await watching;
    } catch (err) {
      if (!(err instanceof WatchStopped)) throw err;
    } finally {
      signal?.removeEventListener('abort', stop);
      this.#watches.delete(streamId);
    }
  }

  /** Sends one request and feeds its answers to onAnswer until it calls finish(). */
  async #request<K extends 'LIST' | 'STATUS' | 'DELETE' | 'DOWNLOAD' | 'REPLICA_DELETE'>(
    type: K,
    body: BodyOf<K>,
    onAnswer: (message: Message, finish: () => void) => void,
  ): Promise<void> {
    const streamId = this.#nextStreamId++;
    const answered = this.#open(streamId, onAnswer);
    this.#connection.send(type, streamId, body as never);
    await answered;
  }

  #open(streamId: number, onAnswer: (message: Message, finish: () => void) => void): Promise<void> {
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
