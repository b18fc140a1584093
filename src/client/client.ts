/**
 * The lanfs client library: connects to a server, authenticates, and runs the
 * operations of SPEC §2.4 over one connection, several at a time if asked.
 * Files are streamed both ways and checked against their sha256; nothing here
 * knows about terminals or exit codes (that is cli/), and it can be used from
 * any program: `const c = await LanfsClient.connect({...}); await c.list()`.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import type { Writable } from 'node:stream';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import { validateName } from '../protocol/file-name.ts';
import type { BodyOf, FileRecord, Member, Message } from '../protocol/messages.ts';
import { randomBytes } from 'node:crypto';
import {
  ChecksumMismatchError,
  ConnectionClosedError,
  errorFromWire,
  LanfsError,
  NoServerError,
  ProtocolError,
  UsageError,
} from '../shared/errors.ts';
import { Connection } from '../transport/connection.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

export interface ClientOptions {
  /** Servers to try, in order, as host:port. */
  servers: string[];
  credentials: Credentials;
  /** How long to wait for one server to accept and answer the handshake. */
  connectTimeoutMs?: number;
}

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

interface StreamHandler {
  onMessage: (message: Message) => void;
  onClose: (err: Error) => void;
}

/** host:port → parts; throws UsageError for anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535)
    throw new UsageError(
      `"${address}" is not a server address; write it as HOST:PORT, e.g. 192.168.1.20:7070.`,
    );
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export class LanfsClient {
  readonly #connection: Connection;
  readonly #welcome: BodyOf<'WELCOME'>;
  readonly address: string;
  readonly #streams = new Map<number, StreamHandler>();
  #nextStreamId = 1;

  private constructor(connection: Connection, welcome: BodyOf<'WELCOME'>, address: string) {
    this.#connection = connection;
    this.#welcome = welcome;
    this.address = address;
    connection.setHandler((message) => this.#onMessage(message));
    connection.onClose((err) => {
      const error = err ?? new ConnectionClosedError();
      for (const handler of this.#streams.values()) handler.onClose(error);
      this.#streams.clear();
    });
  }

  /** Connects to the first of options.servers that answers and authenticates. */
  static async connect(options: ClientOptions): Promise<LanfsClient> {
    if (options.servers.length === 0) throw new UsageError('No server address given.');
    const failures: string[] = [];
    for (const address of options.servers) {
      const { host, port } = parseAddress(address);
      let connection: Connection;
      try {
        connection = await dial(host, port, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      } catch (err) {
        failures.push(`${address} (${(err as Error).message})`);
        continue;
      }
      try {
        const welcome = await dialHandshake(connection, 'client', options.credentials, {
          timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        });
        return new LanfsClient(connection, welcome, address);
      } catch (err) {
        connection.destroy();
        // A wrong key or version is the same on every server of a cluster: say so at once.
        if (
          err instanceof LanfsError &&
          err.code !== 'LANFS_ERR_CONNECTION_CLOSED' &&
          err.code !== 'LANFS_ERR_TIMEOUT'
        )
          throw err;
        failures.push(`${address} (${(err as Error).message})`);
      }
    }
    throw new NoServerError(
      `No lanfs server answered (tried ${failures.join('; ')}): start one with "lanfs server" or "lanfs up", or point --server / LANFS_SERVER at one.`,
    );
  }

  /** The id of the server this client is connected to. */
  get serverId(): number {
    return this.#welcome.serverId;
  }

  /** The servers this client learned of when it connected. */
  get members(): Member[] {
    return this.#welcome.members;
  }

  /** Whether the server runs without a cluster key. */
  get insecure(): boolean {
    return this.#welcome.insecure;
  }

  /** Every file in the system (the single system image). */
  async list(): Promise<FileRecord[]> {
    const records: FileRecord[] = [];
    await this.#request('LIST', {}, (message, finish) => {
      if (message.type !== 'LIST_PAGE')
        throw new ProtocolError(`Expected LIST_PAGE, got ${message.type}.`);
      records.push(...message.body.records);
      if (message.body.done) finish();
    });
    return records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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

  /** Creates name with the bytes of source; fails with NameExists if the name is taken. */
  async create(
    name: string,
    source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
    options: UploadOptions = {},
  ): Promise<FileRecord> {
    const valid = validateName(name);
    return await this.#upload(
      'CREATE',
      { name: valid, size: options.size ?? null, requestId: newRequestId() },
      source,
      options,
    );
  }

  /** Uploads the next version of name, refused (EditConflict) unless it is still at baseVersion. */
  async edit(
    name: string,
    baseVersion: number,
    source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
    options: UploadOptions = {},
  ): Promise<FileRecord> {
    const valid = validateName(name);
    return await this.#upload(
      'EDIT',
      { name: valid, size: options.size ?? null, baseVersion, requestId: newRequestId() },
      source,
      options,
    );
  }

  async delete(name: string): Promise<void> {
    const valid = validateName(name);
    await this.#request('DELETE', { name: valid, requestId: newRequestId() }, (message, finish) => {
      if (message.type !== 'DONE') throw new ProtocolError(`Expected DONE, got ${message.type}.`);
      finish();
    });
  }

  /**
   * Streams the bytes of name into sink (which the caller ends) and checks them
   * against the file's sha256 before resolving. On a mismatch it rejects, and
   * the caller must throw away what the sink received.
   */
  async download(name: string, sink: Writable, options: DownloadOptions = {}): Promise<FileRecord> {
    const valid = validateName(name);
    const hash = createHash('sha256');
    let record: FileRecord | undefined;
    let received = 0;
    let waitingForSink = false;
    await this.#request('DOWNLOAD', { name: valid, offset: 0 }, (message, finish) => {
      switch (message.type) {
        case 'FILE':
          record = message.body.record;
          options.onStart?.(record);
          options.onProgress?.(0, record.size);
          return;
        case 'DATA': {
          if (!record) throw new ProtocolError('File bytes arrived before the FILE message.');
          hash.update(message.bytes);
          received += message.bytes.length;
          options.onProgress?.(received, record.size);
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
          if (!record) throw new ProtocolError('END arrived before the FILE message.');
          const sha256 = hash.digest('hex');
          if (received !== record.size || sha256 !== record.sha256) {
            throw new ChecksumMismatchError(
              `The bytes of "${valid}" did not match their sha256 (${received} of ${record.size} bytes); nothing was kept, try again.`,
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
    return record!;
  }

  close(): void {
    this.#connection.close();
  }

  async #upload(
    type: 'CREATE' | 'EDIT',
    body: BodyOf<'CREATE'> | BodyOf<'EDIT'>,
    source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
    options: UploadOptions,
  ): Promise<FileRecord> {
    const streamId = this.#nextStreamId++;
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
    const total = options.size ?? null;
    let size = 0;
    // The request, the bytes and END of a small file leave in one packet.
    this.#connection.cork();
    let corked = true;
    try {
      this.#connection.send(type, streamId, body);
      for await (const piece of source) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        for (let offset = 0; offset < chunk.length && !refusal; offset += DATA_CHUNK_BYTES) {
          const part = chunk.subarray(offset, offset + DATA_CHUNK_BYTES);
          hash.update(part);
          size += part.length;
          if (this.#connection.sendData(streamId, part)) continue;
          if (corked) this.#connection.uncork();
          corked = false;
          await Promise.race([this.#connection.drain(), answered]);
        }
        options.onProgress?.(size, total);
        if (refusal) break;
      }
      if (refusal) throw refusal;
      this.#connection.send('END', streamId, { size, sha256: hash.digest('hex') });
    } catch (err) {
      // Refused by the server, or the source failed (e.g. an unreadable local file):
      // tell the server to drop what it received.
      this.#connection.send('CANCEL', streamId, {});
      if (err !== refusal) this.#streams.delete(streamId);
      throw err;
    } finally {
      if (corked) this.#connection.uncork();
    }
    await answered;
    if (!record) throw new ProtocolError('The server acknowledged the upload without a record.');
    return record;
  }

  /** Sends one request and feeds its answers to onAnswer until it calls finish(). */
  async #request<K extends 'LIST' | 'STATUS' | 'DELETE' | 'DOWNLOAD'>(
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
    if (message.streamId === 0) {
      if (message.type === 'ERROR')
        this.#connection.destroy(errorFromWire(message.body.code, message.body.message));
      return;
    }
    this.#streams.get(message.streamId)?.onMessage(message);
  }
}

function newRequestId(): string {
  return randomBytes(12).toString('hex');
}

async function dial(host: string, port: number, timeoutMs: number): Promise<Connection> {
  return await new Promise<Connection>((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new Connection(socket));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : err.message));
    });
  });
}
