/**
 * One authenticated connection from a client to one server, and the requests
 * on it (transport/request-streams.ts: each on its own stream, several at a
 * time). A REDIRECT answer rejects the request with a Redirect (the LanfsClient
 * above follows it); nothing here decides where to go.
 */
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { BodyOf, FileRecord, LanfsEvent } from '../protocol/messages.ts';
import { ProtocolError, UsageError } from '../shared/errors.ts';
import { dialConnection } from '../transport/dial.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';
import {
  expectDone,
  RequestStopped,
  RequestStreams,
  type DownloadOptions,
  type DownloadProgress,
  type UploadBody,
  type UploadType,
  type UploadWriter,
} from '../transport/request-streams.ts';

export {
  newDownloadProgress,
  Redirect,
  type DownloadOptions,
  type DownloadProgress,
  type UploadBody,
  type UploadType,
  type UploadWriter,
} from '../transport/request-streams.ts';

/** Bytes to upload: a stream or list of chunks. */
export type UploadSource = AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

export interface UploadOptions {
  /** Called as bytes move: done so far and the total (null when unknown). */
  onProgress?: (done: number, total: number | null) => void;
  /** Size of the content if known in advance (lets the server refuse early). */
  size?: number | null;
}

/** A request with nothing moving either way for this long means the server is gone. */
export const DEFAULT_SILENCE_TIMEOUT_MS = 8000;

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

/** One page of a listing as it arrives; `more`: the limit cut off names that follow. */
export interface ListedPage {
  records: FileRecord[];
  /** A names-only listing's names (records is empty then). */
  names?: string[];
  more: boolean;
}

export class ServerConnection {
  readonly address: string;
  readonly welcome: BodyOf<'WELCOME'>;
  readonly #requests: RequestStreams;

  private constructor(requests: RequestStreams, welcome: BodyOf<'WELCOME'>, address: string) {
    this.#requests = requests;
    this.welcome = welcome;
    this.address = address;
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
      const requests = new RequestStreams(
        connection,
        silenceTimeoutMs,
        `Server ${welcome.serverId} at ${address} stopped answering (nothing for ${silenceTimeoutMs} ms).`,
      );
      return new ServerConnection(requests, welcome, address);
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#requests.closed;
  }

  close(): void {
    this.#requests.close();
  }

  /** Every file asked for (see listPages), in one array: for the few that fit in memory. */
  async list(body: BodyOf<'LIST'> = {}): Promise<FileRecord[]> {
    const records: FileRecord[] = [];
    for await (const page of this.listPages(body)) for (const r of page.records) records.push(r);
    return records;
  }

  /**
   * The files in name order as the server streams them, a page at a time: at most
   * `limit`, after the name `after`, starting with `prefix`. The pages of one request
   * wait here for the caller (ask for a bounded `limit`: LanfsClient.listPages asks a
   * large listing in such parts). Leaving the loop early ends the request.
   */
  async *listPages(body: BodyOf<'LIST'> = {}): AsyncGenerator<ListedPage> {
    const queue: ListedPage[] = [];
    let ended = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    const answered = this.#requests
      .request(
        'LIST',
        body,
        (message, finish) => {
          if (message.type !== 'LIST_PAGE')
            throw new ProtocolError(`Expected LIST_PAGE, got ${message.type}.`);
          queue.push({
            records: message.body.records,
            ...(message.body.names ? { names: message.body.names } : {}),
            more: message.body.more ?? false,
          });
          if (message.body.done) finish();
          wake?.();
        },
        { signal: stop.signal },
      )
      .then(
        () => undefined,
        (err: unknown) => {
          failure = err instanceof Error ? err : new Error(String(err));
        },
      )
      .finally(() => {
        ended = true;
        wake?.();
      });
    try {
      for (;;) {
        const page = queue.shift();
        if (page) {
          yield page;
          continue;
        }
        if (ended) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      if (!ended) {
        stop.abort();
        await answered;
      }
    }
  }

  /** A fault on this server (--allow-faults): lanfs fault, lanfs up's shell. */
  async fault(body: BodyOf<'FAULT'>): Promise<BodyOf<'FAULT_RESULT'>> {
    return await this.#requests.ask('FAULT', body, 'FAULT_RESULT');
  }

  async status(): Promise<BodyOf<'STATUS_RESULT'>> {
    return await this.#requests.ask('STATUS', {}, 'STATUS_RESULT');
  }

  /** Scrub state of every live server (issue 13); `start` starts a pass on each. */
  async scrub(body: BodyOf<'SCRUB'>): Promise<BodyOf<'SCRUB_RESULT'>> {
    return await this.#requests.ask('SCRUB', body, 'SCRUB_RESULT');
  }

  /** Asks a server to drop its copy of a file (server to server). */
  async replicaDelete(body: BodyOf<'REPLICA_DELETE'>): Promise<void> {
    await this.#requests.request('REPLICA_DELETE', body, expectDone);
  }

  /** A request answered by one message (HISTORY, TRASH, LEASE, LEASES, UNDELETE → DONE). */
  async ask<
    A extends 'HISTORY_RESULT' | 'TRASH_RESULT' | 'LEASE_RESULT' | 'LEASES_RESULT' | 'DONE',
  >(
    type: 'HISTORY' | 'TRASH' | 'LEASE' | 'LEASES' | 'UNDELETE' | 'RESTORE',
    body:
      | BodyOf<'HISTORY'>
      | BodyOf<'TRASH'>
      | BodyOf<'LEASE'>
      | BodyOf<'UNDELETE'>
      | BodyOf<'RESTORE'>,
    answer: A,
  ): Promise<BodyOf<A>> {
    return await this.#requests.ask(type, body, answer);
  }

  async delete(body: BodyOf<'DELETE'>): Promise<void> {
    await this.#requests.request('DELETE', body, expectDone);
  }

  /** See RequestStreams.download: resumable, checked against the record's sha256. */
  async download(
    name: string,
    sink: Writable,
    options: DownloadOptions,
    progress?: DownloadProgress,
  ): Promise<FileRecord> {
    return await this.#requests.download(name, sink, options, progress);
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

  /** An upload fed chunk by chunk (see RequestStreams.openUpload). */
  openUpload(type: UploadType, body: UploadBody): UploadWriter {
    return this.#requests.openUpload(type, body);
  }

  /**
   * Sends WATCH and hands every EVENT to onEvent (a `watching` notice first) until
   * signal aborts (resolves) or the connection closes (rejects with why). The
   * server goes on sending until the connection closes: close it, or ignore them.
   * A watch is exempt from the silence watchdog (a quiet cluster sends nothing).
   */
  async watch(onEvent: (event: LanfsEvent) => void, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    try {
      await this.#requests.request(
        'WATCH',
        {},
        (message) => {
          if (message.type !== 'EVENT')
            throw new ProtocolError(`Expected EVENT, got ${message.type}.`);
          onEvent(message.body);
        },
        { quiet: true, signal },
      );
    } catch (err) {
      if (!(err instanceof RequestStopped)) throw err; // stopped by its signal: done
    }
  }
}
