/**
 * Serves one client (or replicator) connection after its handshake: it turns
 * frames into calls of the file service (service/file-service.ts), which holds
 * every rule about files; this module only frames. Every request runs
 * concurrently, each on its own stream id, and the frames of one stream are
 * handled in order. Uploads are written as they arrive, with the socket paused
 * while too many bytes wait for the disk; downloads are read and sent a chunk
 * at a time, waiting for the socket to drain. An error in one request is sent
 * back on its stream; a broken message closes this connection only.
 */
import { serveWatch } from '../events/serve-watch.ts';
import type { EventStream } from '../events/event-stream.ts';
import { validateName } from '../protocol/file-name.ts';
import {
  pageNames,
  pageRecords,
  type BodyOf,
  type FileRecord,
  type Message,
} from '../protocol/messages.ts';
import {
  errorToWire,
  LanfsError,
  NotFoundError,
  ProtocolError,
  UnavailableError,
  UsageError,
} from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { FileService, WriteHandle } from '../service/file-service.ts';
import { ChunkReader } from '../service/chunk-reader.ts';
import type { Scrubber } from '../cluster/scrubber.ts';
import type { FaultControl } from './fault-control.ts';
import { DEFAULT_SESSION_LIMITS, type SessionLimits } from './defaults.ts';
import type { Metrics } from '../web/metrics.ts';
import type { Connection } from '../transport/connection.ts';

/** Pause reading a connection when this many received bytes wait for the disk… */
const PAUSE_AT_PENDING_BYTES = 8 * 1024 * 1024;
/** …and resume when the backlog is down to this. */
const RESUME_AT_PENDING_BYTES = 2 * 1024 * 1024;
/** Records looked up per step of a LIST (then sent as pages of at most RECORD_PAGE_BYTES). */
const LIST_STEP_RECORDS = 2000;
/** Names looked up per step of a names-only LIST (a page of them is small). */
const LIST_STEP_NAMES = 16_384;
/** A client's requests that must not meet an old view: they wait until it is current. */
const WAITS_FOR_CURRENT_VIEW = new Set<Message['type']>([
  'LIST',
  'CREATE',
  'EDIT',
  'DOWNLOAD',
  'DELETE',
  'HISTORY',
  'RESTORE',
]);

export interface SessionComponents {
  limits?: SessionLimits;
  /** Counts file bytes in and out (for /metrics). */
  metrics?: Metrics;
  /** Every file operation; this session only frames requests for it. */
  files: FileService;
  /** The server's events, for WATCH. */
  events?: EventStream;
  /** Set when the other end is a server moving file bytes (REPLICA_* requests allowed). */
  peerId?: number;
  /** The server's scrubber (SCRUB requests; a failed read makes a copy suspect). */
  scrubber?: Scrubber;
  /** Set with --allow-faults: FAULT requests (issue 15). */
  faults?: FaultControl;
  logger: Logger;
}

interface UploadStream {
  kind: 'upload';
  /** Set once the service accepted the upload; undefined while it starts or after a refusal. */
  handle?: WriteHandle;
  /** An error already sent for this stream (or a REDIRECT): the rest of its frames are dropped. */
  refused: boolean;
}

interface OtherStream {
  kind: 'other';
}

type StreamState = UploadStream | OtherStream;

export class ClientSession {
  readonly #connection: Connection;
  readonly #components: SessionComponents;
  readonly #streams = new Map<number, { state: StreamState; chain: Promise<void> }>();
  #pendingBytes = 0;
  #paused = false;
  readonly #limits: SessionLimits;

  constructor(connection: Connection, components: SessionComponents) {
    this.#connection = connection;
    this.#components = components;
    connection.setHandler((message) => this.#onMessage(message));
    connection.onClose(() => this.#abortAll());
    this.#limits = components.limits ?? DEFAULT_SESSION_LIMITS;
    connection.guard({
      partialMessageMs: this.#limits.stallMs,
      stalledMs: this.#limits.stallMs,
      idleMs: this.#limits.idleMs,
      waiting: () =>
        [...this.#streams.values()].some(
          (e) => e.state.kind === 'upload' && e.state.handle !== undefined,
        ),
      idle: () => this.#streams.size === 0,
    });
  }

  #onMessage(message: Message): void {
    const { streamId } = message;
    if (streamId === 0) {
      if (message.type === 'ERROR') this.#connection.destroy();
      else
        this.#connection.close(
          new ProtocolError(`${message.type} is not valid on stream 0 after the handshake.`),
        );
      return;
    }
    let entry = this.#streams.get(streamId);
    if (!entry) {
      if (
        message.type === 'DATA' ||
        message.type === 'END' ||
        message.type === 'CANCEL' ||
        message.type === 'REPLICA_SUM'
      ) {
        // Frames of a stream this end already finished (e.g. after refusing it) are dropped.
        return;
      }
      if (this.#streams.size >= this.#limits.maxStreams) {
        this.#connection.close(
          new ProtocolError(
            `More than ${this.#limits.maxStreams} requests at once on one connection.`,
          ),
        );
        return;
      }
      entry = { state: { kind: 'other' }, chain: Promise.resolve() };
      this.#streams.set(streamId, entry);
    }
    const size = message.type === 'DATA' ? message.bytes.length : 0;
    this.#track(size);
    const current = entry;
    current.chain = current.chain
      .then(() => this.#handle(streamId, current.state, message))
      .catch((err: unknown) => this.#fail(streamId, current.state, message.type, err))
      .finally(() => this.#track(-size));
  }

  async #handle(streamId: number, state: StreamState, message: Message): Promise<void> {
    if (state.kind === 'upload') return await this.#continueUpload(streamId, state, message);
    const files = this.#components.files;
    // After this server's start or a stall its view may be behind (cluster/view-freshness.ts).
    if (this.#components.peerId === undefined && WAITS_FOR_CURRENT_VIEW.has(message.type))
      await files.current();
    switch (message.type) {
      case 'LIST':
        return await this.#list(streamId, message.body);
      case 'STATUS':
        this.#connection.send('STATUS_RESULT', streamId, files.status());
        return this.#end(streamId);
      case 'CREATE':
        // END always carries the sha256 on this protocol (its schema requires it).
        return await this.#startUpload(streamId, () =>
          files.beginCreate({ ...message.body, sha256AtEnd: true }),
        );
      case 'EDIT': {
        const body = message.body;
        return await this.#startUpload(streamId, () =>
          // The client goes elsewhere: its bytes are dropped until END or CANCEL.
          this.#redirected(streamId, body.name, 'write')
            ? undefined
            : files.beginEdit({ ...body, sha256AtEnd: true }),
        );
      }
      case 'DOWNLOAD':
        return await this.#download(streamId, message.body);
      case 'HISTORY':
        if (!this.#redirected(streamId, message.body.name, 'read'))
          this.#connection.send('HISTORY_RESULT', streamId, files.history(message.body.name));
        return this.#end(streamId);
      case 'TRASH':
        this.#connection.send('TRASH_RESULT', streamId, {
          serverId: files.serverId,
          items: files.trash(),
        });
        return this.#end(streamId);
      case 'UNDELETE': {
        const record = await files.undelete(message.body.key, message.body.as);
        this.#connection.send('DONE', streamId, { record });
        return this.#end(streamId);
      }
      case 'LEASE': {
        // A lease lives on the file's acting primary, so a release goes there too; only a
        // release of a file now gone or out of reach is answered here (nothing to release).
        const { action, name } = message.body;
        const elsewhere =
          action !== 'release' || files.locate(validateName(name), 'write').kind === 'remote';
        if (!elsewhere || !this.#redirected(streamId, name, 'write'))
          this.#connection.send('LEASE_RESULT', streamId, files.lease(message.body));
        return this.#end(streamId);
      }
      case 'LEASES':
        this.#connection.send('LEASES_RESULT', streamId, { leases: files.leases.list() });
        return this.#end(streamId);
      case 'RESTORE':
        // Forwarded to the acting primary by the service when that is another server.
        this.#connection.send('DONE', streamId, {
          record: await files.restore(message.body.name, message.body.version, message.body.host),
        });
        return this.#end(streamId);
      case 'PEER_EVENT':
        // A peer's restore, trash move or lease, for the watchers here; never told further.
        this.#requirePeer(message.type);
        if (message.body.event.type !== 'watching' && message.body.event.type !== 'lagged')
          this.#components.events?.publish(message.body.event);
        this.#connection.send('DONE', streamId, { record: null });
        return this.#end(streamId);
      case 'DELETE':
        if (!this.#redirected(streamId, message.body.name, 'write')) {
          const { name, requestId, purge, host } = message.body;
          await files.delete(name, requestId, { purge, host });
          this.#connection.send('DONE', streamId, { record: null });
        }
        return this.#end(streamId);
      case 'REPLICA_PUT': {
        this.#requirePeer(message.type);
        const header = message.body.record;
        return await this.#startUpload(streamId, () => files.beginReplicaPut(header));
      }
      case 'REPLICA_DELETE':
        this.#requirePeer(message.type);
        await files.replicaDelete(message.body.tombstone, { purge: message.body.purge });
        this.#connection.send('DONE', streamId, { record: null });
        return this.#end(streamId);
      case 'SCRUB': {
        const scrubber = this.#components.scrubber;
        if (!scrubber) throw new ProtocolError('SCRUB is not served here.');
        // A peer asks for this server's own report; a client for every server's.
        const body = {
          ...message.body,
          local: message.body.local || this.#components.peerId !== undefined,
        };
        this.#connection.send('SCRUB_RESULT', streamId, await scrubber.clusterReport(body));
        return this.#end(streamId);
      }
      case 'FAULT': {
        const faults = this.#components.faults;
        if (!faults)
          throw new UsageError(
            `Server ${files.serverId} takes no faults: start it with --allow-faults to use lanfs fault.`,
          );
        this.#connection.send('FAULT_RESULT', streamId, faults.apply(message.body));
        return this.#end(streamId);
      }
      case 'WATCH':
        // The stream stays open as long as the connection (no #end): events until it closes.
        if (!this.#components.events) throw new ProtocolError('WATCH is not served here.');
        return serveWatch(this.#connection, streamId, this.#components.events);
      default:
        throw new ProtocolError(`A client cannot start a request with ${message.type}.`);
    }
  }

  /**
   * Frames of an upload stream go to the service's handle. begin() returns
   * undefined when the request was redirected: its bytes are dropped.
   */
  async #startUpload(
    streamId: number,
    begin: () => Promise<WriteHandle> | undefined,
  ): Promise<void> {
    const state: UploadStream = { kind: 'upload', refused: false };
    this.#setState(streamId, state);
    const started = begin();
    if (!started) {
      state.refused = true;
      return;
    }
    const handle = await started;
    if (this.#connection.closed)
      await handle.abort(); // the client left while we started
    else state.handle = handle;
  }

  #requirePeer(type: string): void {
    if (this.#components.peerId === undefined)
      throw new ProtocolError(`Only a server may send ${type}.`);
  }

  async #continueUpload(streamId: number, state: UploadStream, message: Message): Promise<void> {
    if (state.refused) {
      if (message.type === 'END' || message.type === 'CANCEL') this.#end(streamId);
      return;
    }
    const handle = state.handle;
    if (!handle)
      throw new ProtocolError('Upload frames arrived for a stream that is not uploading.');
    switch (message.type) {
      case 'DATA':
        this.#components.metrics?.bytesIn.inc({ via: 'tcp' }, message.bytes.length);
        return await handle.write(message.bytes);
      case 'END': {
        state.handle = undefined;
        // Only a peer may state a copy's S3 ETag; a client's version gets one from the S3 side.
        const { size, sha256 } = message.body;
        const end = this.#components.peerId === undefined ? { size, sha256 } : message.body;
        const record = await handle.finish(end);
        this.#connection.send('DONE', streamId, { record });
        return this.#end(streamId);
      }
      case 'CANCEL':
        state.handle = undefined;
        await handle.abort();
        return this.#end(streamId);
      case 'REPLICA_SUM':
        // The primary checks its own bytes against what this copy received (every DATA
        // before this message was written: the stream's messages are handled in order).
        this.#requirePeer(message.type);
        this.#connection.send('REPLICA_SUM_RESULT', streamId, handle.sum());
        return;
      default:
        throw new ProtocolError(`${message.type} is not valid during an upload.`);
    }
  }

  async #download(streamId: number, body: BodyOf<'DOWNLOAD'>): Promise<void> {
    const name = validateName(body.name);
    // A server fetching a copy reads what we hold; a client is sent to the newest version.
    if (this.#components.peerId === undefined && this.#redirected(streamId, name, 'read'))
      return this.#end(streamId);
    let opened: Awaited<ReturnType<FileService['openForRead']>>;
    try {
      opened =
        body.version === undefined
          ? await this.#components.files.openForRead(name)
          : await this.#components.files.openVersion(name, body.version);
    } catch (err) {
      // A copy this disk cannot read (EIO...): the client reads another holder's, and
      // this one is scrubbed (and repaired from a good holder) at once.
      const elsewhere =
        err instanceof NotFoundError ? undefined : this.#components.scrubber?.readFailed(name);
      if (!elsewhere || this.#components.peerId !== undefined) throw err;
      this.#connection.send('REDIRECT', streamId, { name, ...elsewhere });
      return this.#end(streamId);
    }
    const { record, release } = opened;
    if (opened.bytes) {
      const bytes = opened.bytes;
      // A small file the catalog holds in memory: FILE, DATA and END in one packet, no read.
      try {
        const offset = Math.min(body.offset, bytes.length);
        this.#connection.cork();
        this.#connection.send('FILE', streamId, { record, offset });
        if (offset < bytes.length) this.#connection.sendData(streamId, bytes.subarray(offset));
        this.#components.metrics?.bytesOut.inc({ via: 'tcp' }, bytes.length - offset);
        this.#connection.send('END', streamId, {
          size: bytes.length - offset,
          sha256: record.sha256,
        });
        this.#connection.uncork();
      } finally {
        release();
      }
      return this.#end(streamId);
    }
    const { handle, file } = opened;
    const offset = Math.min(body.offset, file.size);
    const reader = new ChunkReader(handle, offset, file.size, { givesBack: true });
    let sent = 0;
    // FILE, the data and END of a small file leave in one packet.
    this.#connection.cork();
    let corked = true;
    try {
      this.#connection.send('FILE', streamId, { record, offset });
      for await (const chunk of reader) {
        sent += chunk.bytes.length;
        this.#components.metrics?.bytesOut.inc({ via: 'tcp' }, chunk.bytes.length);
        if (!this.#connection.sendData(streamId, chunk.bytes, chunk.written)) {
          this.#connection.uncork();
          corked = false;
          await this.#connection.drain();
        }
      }
      // The size sent and the sha256 the file must have: the receiver hashes what it got and
      // compares (a bad byte on this disk shows there), so hashing here too would be waste.
      this.#connection.send('END', streamId, { size: sent, sha256: record.sha256 });
    } finally {
      if (corked) this.#connection.uncork();
      await reader.close(); // never release the descriptor under a read
      release();
    }
    this.#end(streamId);
  }

  /**
   * Streams the files asked for a page at a time: each page is looked up after the
   * last name sent (a seek in the view's index), so names added or removed meanwhile
   * never make one appear twice, and no request holds more than a page in memory.
   * The next page waits until the socket drained the last.
   */
  async #list(streamId: number, body: BodyOf<'LIST'>): Promise<void> {
    const files = this.#components.files;
    // `namesOnly`: the same steps, pages of names instead of records.
    if (body.namesOnly)
      return await this.#streamList(streamId, body, {
        step: LIST_STEP_NAMES,
        lookup: (limit, after) => files.listNames(limit, after, body.prefix),
        nameOf: (name) => name,
        pages: (names) => pageNames(names).map((page) => ({ records: [], names: page })),
      });
    return await this.#streamList(streamId, body, {
      step: LIST_STEP_RECORDS,
      lookup: (limit, after) => files.list(limit, after, body.prefix),
      nameOf: (record) => record.name,
      pages: (records) => pageRecords(records).map((page) => ({ records: page })),
    });
  }

  async #streamList<T>(
    streamId: number,
    body: BodyOf<'LIST'>,
    how: {
      step: number;
      lookup: (limit: number, after: string | undefined) => T[];
      nameOf: (entry: T) => string;
      pages: (entries: T[]) => { records: FileRecord[]; names?: string[] }[];
    },
  ): Promise<void> {
    let after = body.after;
    let left = body.limit ?? Infinity;
    for (;;) {
      const step = Math.min(left, how.step);
      // One more than wanted: whether names follow this page.
      const entries = how.lookup(step + 1, after);
      const more = entries.length > step;
      if (more) entries.pop();
      left -= entries.length;
      const done = !more || left <= 0;
      const pages = how.pages(entries);
      pages.forEach((page, i) => {
        const last = done && i === pages.length - 1;
        this.#connection.send('LIST_PAGE', streamId, {
          ...page,
          done: last,
          ...(last && more ? { more: true } : {}),
        });
      });
      if (done || this.#connection.closed) break;
      after = how.nameOf(entries[entries.length - 1]!);
      await this.#connection.drain();
    }
    this.#end(streamId);
  }

  /**
   * Sends REDIRECT when another server should answer (a
   * read: a live holder of the newest version; a write: the acting primary) and
   * returns true; throws Unavailable when every holder is down, NotFound when no
   * server holds the name. Returns false when this server answers.
   */
  #redirected(streamId: number, name: string, purpose: 'read' | 'write'): boolean {
    const location = this.#components.files.locate(validateName(name), purpose);
    switch (location.kind) {
      case 'local':
        return false;
      case 'remote':
        this.#connection.send('REDIRECT', streamId, {
          name,
          serverId: location.serverId,
          address: location.address,
        });
        return true;
      case 'down':
        throw new UnavailableError(name, location.holders);
      case 'none':
        throw new NotFoundError(name);
    }
  }

  #setState(streamId: number, state: StreamState): void {
    const entry = this.#streams.get(streamId);
    if (entry) entry.state = state;
  }

  #end(streamId: number): void {
    this.#streams.delete(streamId);
  }

  async #fail(
    streamId: number,
    state: StreamState,
    failedOn: Message['type'],
    err: unknown,
  ): Promise<void> {
    if (err instanceof ProtocolError) {
      this.#connection.close(err);
      return;
    }
    if (!(err instanceof LanfsError)) {
      this.#components.logger.error({ err, streamId }, 'request failed');
    } else if (err.code === 'LANFS_ERR_STORAGE' || err.code === 'LANFS_ERR_DISK_FULL') {
      this.#components.logger.warn({ err: err.message, streamId }, 'request failed');
    }
    this.#connection.send('ERROR', streamId, errorToWire(err));
    if (state.kind === 'upload') {
      const handle = state.handle;
      state.handle = undefined;
      // Keep the stream open, dropping its frames, until the client's END or CANCEL.
      state.refused = failedOn !== 'END' && failedOn !== 'CANCEL';
      await handle?.abort();
    }
    if (state.kind !== 'upload' || !state.refused) this.#end(streamId);
  }

  #track(bytes: number): void {
    this.#pendingBytes += bytes;
    if (!this.#paused && this.#pendingBytes >= PAUSE_AT_PENDING_BYTES) {
      this.#paused = true;
      this.#connection.pause();
    } else if (this.#paused && this.#pendingBytes <= RESUME_AT_PENDING_BYTES) {
      this.#paused = false;
      this.#connection.resume();
    }
  }

  #abortAll(): void {
    for (const { state } of this.#streams.values()) {
      if (state.kind === 'upload') {
        void state.handle?.abort();
        state.handle = undefined;
      }
    }
    this.#streams.clear();
  }
}
