/**
 * Server-to-server requests that move file bytes or act on another server's
 * files: a "replicator" connection (HELLO role `replicator` with our id), apart
 * from the mesh link so a large copy never delays heartbeats. It carries the
 * copies a primary streams while an upload arrives (REPLICA_PUT), copies made by
 * healing, catch-up downloads, REPLICA_DELETE, and a DELETE forwarded to a file's
 * acting primary (and, issue 14, history, trash, undelete, restore and events
 * asked of a peer for the HTTP API). Built on transport/ only: cluster/ never uses the client library.
 * Nothing here decides where to go; a REDIRECT answer rejects with Redirect
 * (transport/request-streams.ts, which runs the requests and moves the bytes).
 */
import type { Readable, Writable } from 'node:stream';
import type { BodyOf, FileRecord } from '../protocol/messages.ts';
import { dialConnection } from '../transport/dial.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';
import {
  expectDone,
  RequestStreams,
  type DownloadOptions,
  type UploadWriter,
} from '../transport/request-streams.ts';

export type { UploadWriter } from '../transport/request-streams.ts';

/** A request with nothing moving either way for this long means the peer froze. */
const SILENCE_TIMEOUT_MS = 8000;

export class PeerLink {
  readonly address: string;
  readonly #requests: RequestStreams;

  private constructor(requests: RequestStreams, address: string) {
    this.#requests = requests;
    this.address = address;
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
      // A peer that froze keeps its socket open: its requests fail and are retried later.
      const requests = new RequestStreams(
        connection,
        SILENCE_TIMEOUT_MS,
        `Server at ${address} stopped answering (${SILENCE_TIMEOUT_MS} ms).`,
      );
      return new PeerLink(requests, address);
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

  /** Asks the peer to drop its copy of a file. */
  async replicaDelete(body: BodyOf<'REPLICA_DELETE'>): Promise<void> {
    await this.#requests.request('REPLICA_DELETE', body, expectDone);
  }

  /** A delete forwarded to the peer, the file's acting primary. */
  async delete(body: BodyOf<'DELETE'>): Promise<void> {
    await this.#requests.request('DELETE', body, expectDone);
  }

  /**
   * Streams the peer's bytes of name into sink, checked against the record's sha256
   * (options.onStart sees the record before any byte).
   */
  async download(name: string, sink: Writable, options?: DownloadOptions): Promise<FileRecord> {
    return await this.#requests.download(name, sink, options);
  }

  /** What the peer's scrubber found (issue 13): its own report only (`local`). */
  async scrub(body: BodyOf<'SCRUB'>): Promise<BodyOf<'SCRUB_RESULT'>> {
    return await this.#requests.ask('SCRUB', body, 'SCRUB_RESULT');
  }

  /** The peer's status: its own entry says its space and bursts of deletes (issue 14). */
  async status(): Promise<BodyOf<'STATUS_RESULT'>> {
    return await this.#requests.ask('STATUS', {}, 'STATUS_RESULT');
  }

  /** The edit leases the peer holds (it is the acting primary of their files). */
  async leases(): Promise<BodyOf<'LEASES_RESULT'>> {
    return await this.#requests.ask('LEASES', {}, 'LEASES_RESULT');
  }

  /** The versions the peer keeps of a file it holds (issue 14: HTTP's /api/history). */
  async history(name: string): Promise<BodyOf<'HISTORY_RESULT'>> {
    return await this.#answer('HISTORY', { name }, 'HISTORY_RESULT');
  }

  /** What the peer's trash holds. */
  async trash(): Promise<BodyOf<'TRASH_RESULT'>> {
    return await this.#answer('TRASH', {}, 'TRASH_RESULT');
  }

  /** Brings back an entry of the peer's trash. */
  async undelete(body: BodyOf<'UNDELETE'>): Promise<FileRecord> {
    return (await this.#answer('UNDELETE', body, 'DONE')).record!;
  }

  /** A restore forwarded to the peer, the file's acting primary. */
  async restore(body: BodyOf<'RESTORE'>): Promise<FileRecord> {
    return (await this.#answer('RESTORE', body, 'DONE')).record!;
  }

  /** Tells the peer's watchers an event of this server (restores, trash moves, leases). */
  async tellEvent(body: BodyOf<'PEER_EVENT'>): Promise<void> {
    await this.#requests.request('PEER_EVENT', body, expectDone);
  }

  /** One request answered by one message of type `expected` (a REDIRECT rejects with Redirect). */
  async #answer<
    K extends 'HISTORY' | 'TRASH' | 'UNDELETE' | 'RESTORE',
    A extends 'HISTORY_RESULT' | 'TRASH_RESULT' | 'DONE',
  >(type: K, body: BodyOf<K>, expected: A): Promise<BodyOf<A>> {
    let result: BodyOf<A> | undefined;
    await this.#requests.request(type, body, (message, finish) => {
      if (message.type !== expected) throw new Error(`Expected ${expected}, got ${message.type}.`);
      result = (message as unknown as { body: BodyOf<A> }).body;
      finish();
    });
    return result!;
  }

  /**
   * A whole copy from a readable stream (healing). END carries the record's sha256,
   * not one of the bytes read: a source damaged on this disk (or replaced since the
   * record was read) is refused by the receiver instead of spreading.
   */
  async upload(body: BodyOf<'REPLICA_PUT'>, source: Readable, sha256: string): Promise<FileRecord> {
    const writer = this.openUpload(body, { sha256Later: true });
    try {
      for await (const chunk of source) await writer.write(chunk as Buffer);
    } catch (err) {
      writer.cancel();
      throw err;
    }
    return await writer.end({ sha256 });
  }

  /**
   * A copy fed chunk by chunk as the client's bytes arrive (see
   * RequestStreams.openUpload).
   */
  openUpload(body: BodyOf<'REPLICA_PUT'>, options: { sha256Later?: boolean } = {}): UploadWriter {
    return this.#requests.openUpload('REPLICA_PUT', body, options);
  }
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
