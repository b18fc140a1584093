/**
 * Server-to-server requests that move file bytes or act on another server's
 * files: a "replicator" connection (HELLO role `replicator` with our id), apart
 * from the mesh link so a large copy never delays heartbeats. It carries the
 * copies a primary streams while an upload arrives (REPLICA_PUT), copies made by
 * healing, catch-up downloads, REPLICA_DELETE, and a DELETE forwarded to a file's
 * acting primary. Built on transport/ only: cluster/ never uses the client library.
 * Nothing here decides where to go; a REDIRECT answer rejects with PeerRedirect.
 */
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import type { BodyOf, FileRecord, Message } from '../protocol/messages.ts';
import {
  ChecksumMismatchError,
  ConnectionClosedError,
  errorFromWire,
  ProtocolError,
  TimeoutError,
} from '../shared/errors.ts';
import type { Connection } from '../transport/connection.ts';
import { dialConnection } from '../transport/dial.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';

/** A request with nothing moving either way for this long means the peer froze. */
const SILENCE_TIMEOUT_MS = 8000;
const WATCHDOG_INTERVAL_MS = 500;

/** An upload in progress, fed chunk by chunk (see PeerLink.openUpload). */
export interface UploadWriter {
  readonly size: number;
  write: (chunk: Buffer) => Promise<void>;
  end: () => Promise<FileRecord>;
  cancel: () => void;
}

/** The peer is not the server for this request and names the one that is. */
export class PeerRedirect extends Error {
  readonly serverId: number;
  readonly address: string;
  constructor(serverId: number, address: string) {
    super(`redirected to server ${serverId} at ${address}`);
    this.serverId = serverId;
    this.address = address;
  }
}

type AnswerHandler = (message: Message, finish: () => void) => void;

interface StreamHandler {
  onMessage: (message: Message) => void;
  onClose: (err: Error) => void;
}

export class PeerLink {
  readonly address: string;
  readonly #connection: Connection;
  readonly #streams = new Map<number, StreamHandler>();
  #nextStreamId = 1;
  #receivedAt = 0;

  private constructor(connection: Connection, address: string) {
    this.#connection = connection;
    this.address = address;
    connection.setHandler((message) => this.#onMessage(message));
    // A peer that froze keeps its socket open: nothing moving either way while a
    // request is in flight ends the link, so its requests fail and are retried later.
    let written = connection.socket.bytesWritten;
    let movedAt = Date.now();
    const watchdog = setInterval(() => {
      if (
        this.#streams.size === 0 ||
        connection.socket.bytesWritten !== written ||
        this.#receivedAt > movedAt
      ) {
        written = connection.socket.bytesWritten;
        movedAt = Math.max(Date.now(), this.#receivedAt);
        return;
      }
      if (Date.now() - movedAt > SILENCE_TIMEOUT_MS)
        connection.destroy(
          new TimeoutError(`Server at ${address} stopped answering (${SILENCE_TIMEOUT_MS} ms).`),
        );
    }, WATCHDOG_INTERVAL_MS);
    watchdog.unref();
    connection.onClose((err) => {
      clearInterval(watchdog);
      const error = err ?? new ConnectionClosedError();
      for (const handler of this.#streams.values()) handler.onClose(error);
      this.#streams.clear();
    });
  }

  /** Dials address (host:port) and authenticates as server selfId. */
  static async open(
    address: string,
    credentials: Credentials,
    timeoutMs: number,
    selfId: number,
  ): Promise<PeerLink> {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const connection = await dialConnection(
      host,
      Number(address.slice(colon + 1)),
      timeoutMs,
      credentials.tls,
    );
    try {
      await dialHandshake(connection, 'replicator', credentials, { timeoutMs, serverId: selfId });
      return new PeerLink(connection, address);
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

  /** Asks the peer to drop its copy of a file. */
  async replicaDelete(body: BodyOf<'REPLICA_DELETE'>): Promise<void> {
    await this.#request('REPLICA_DELETE', body, expectDone);
  }

  /** A delete forwarded to the peer, the file's acting primary. */
  async delete(body: BodyOf<'DELETE'>): Promise<void> {
    await this.#request('DELETE', body, expectDone);
  }

  /** Streams the peer's bytes of name into sink, checked against the record's sha256. */
  async download(name: string, sink: Writable): Promise<FileRecord> {
    let record: FileRecord | undefined;
    const hash = createHash('sha256');
    let received = 0;
    let waitingForSink = false;
    await this.#request('DOWNLOAD', { name, offset: 0 }, (message, finish) => {
      switch (message.type) {
        case 'FILE':
          record = message.body.record;
          return;
        case 'DATA':
          if (!record) throw new ProtocolError('File bytes arrived before the FILE message.');
          hash.update(message.bytes);
          received += message.bytes.length;
          if (!sink.write(message.bytes) && !waitingForSink) {
            waitingForSink = true;
            this.#connection.pause();
            sink.once('drain', () => {
              waitingForSink = false;
              this.#connection.resume();
            });
          }
          return;
        case 'END':
          if (!record) throw new ProtocolError('END arrived before the FILE message.');
          if (received !== record.size || hash.digest('hex') !== record.sha256)
            throw new ChecksumMismatchError(
              `The bytes of "${name}" from ${this.address} did not match their sha256.`,
            );
          finish();
          return;
        default:
          throw new ProtocolError(`${message.type} is not valid during a download.`);
      }
    });
    if (waitingForSink) this.#connection.resume();
    return record!;
  }

  /** A whole copy from a readable stream (healing). */
  async upload(body: BodyOf<'REPLICA_PUT'>, source: Readable): Promise<FileRecord> {
    const writer = this.openUpload(body);
    try {
      for await (const chunk of source) await writer.write(chunk as Buffer);
    } catch (err) {
      writer.cancel();
      throw err;
    }
    return await writer.end();
  }

  /**
   * A copy fed chunk by chunk as the client's bytes arrive. write() waits only
   * while the socket is full and rejects as soon as the peer refuses; end()
   * sends END and resolves with the record the peer stored.
   */
  openUpload(body: BodyOf<'REPLICA_PUT'>): UploadWriter {
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
    connection.send('REPLICA_PUT', streamId, body);
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
        uncork();
        if (refusal) throw refusal;
        finished = true;
        connection.send('END', streamId, { size, sha256: hash.digest('hex') });
        await answered;
        if (!record) throw new ProtocolError('The peer acknowledged a copy without a record.');
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

  async #request<K extends 'DELETE' | 'DOWNLOAD' | 'REPLICA_DELETE'>(
    type: K,
    body: BodyOf<K>,
    onAnswer: AnswerHandler,
  ): Promise<void> {
    const streamId = this.#nextStreamId++;
    const answered = this.#open(streamId, onAnswer);
    this.#connection.send(type, streamId, body as never);
    await answered;
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
            return done(new PeerRedirect(message.body.serverId, message.body.address));
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

function expectDone(message: Message, finish: () => void): void {
  if (message.type !== 'DONE') throw new ProtocolError(`Expected DONE, got ${message.type}.`);
  finish();
}

/** One reused link per peer, dialed when first needed and again after it closes. */
export class PeerLinks {
  readonly #links = new Map<number, Promise<PeerLink>>();
  readonly #o: {
    selfId: number;
    credentials: Credentials;
    addressOf: (peerId: number) => string | undefined;
    connectTimeoutMs: number;
  };

  constructor(options: {
    selfId: number;
    credentials: Credentials;
    /** Where a peer listens now (host:port), undefined if unknown. */
    addressOf: (peerId: number) => string | undefined;
    connectTimeoutMs: number;
  }) {
    this.#o = options;
  }

  async get(peerId: number): Promise<PeerLink> {
    const existing = this.#links.get(peerId);
    if (existing) {
      const link = await existing.catch(() => undefined);
      if (link && !link.closed) return link;
    }
    const address = this.#o.addressOf(peerId);
    if (!address) throw new Error(`server ${peerId} is unknown`);
    const pending = PeerLink.open(
      address,
      this.#o.credentials,
      this.#o.connectTimeoutMs,
      this.#o.selfId,
    );
    pending.catch(() => undefined);
    this.#links.set(peerId, pending);
    try {
      return await pending;
    } catch (err) {
      this.#links.delete(peerId);
      throw err;
    }
  }

  close(): void {
    for (const pending of this.#links.values())
      void pending.then((link) => link.close()).catch(() => undefined);
    this.#links.clear();
  }
}
