/**
 * Serves one client connection after its handshake: every request on it runs
 * concurrently, each on its own stream id, and the frames of one stream are
 * handled in order. Uploads are written as they arrive, with the socket paused
 * while too many bytes wait for the disk; downloads are read and sent a chunk
 * at a time, waiting for the socket to drain. An error in one request is sent
 * back on its stream; a broken message closes this connection only.
 */
import { createHash } from 'node:crypto';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import { validateName } from '../protocol/file-name.ts';
import { pageRecords, type BodyOf, type FileRecord, type Message } from '../protocol/messages.ts';
import {
  ChecksumMismatchError,
  errorToWire,
  LanfsError,
  NameExistsError,
  NotFoundError,
  ProtocolError,
  UnavailableError,
} from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Upload } from '../storage/data-directory.ts';
import { newFileId, type LocalCatalog } from '../storage/local-catalog.ts';
import type { ClusterView } from '../cluster/cluster-view.ts';
import type { PeerMesh } from '../cluster/peer-mesh.ts';
import type { CopySet, Replicator } from '../cluster/replicator.ts';
import type { Metrics } from '../web/metrics.ts';
import type { Connection } from '../transport/connection.ts';

/** Pause reading a connection when this many received bytes wait for the disk… */
const PAUSE_AT_PENDING_BYTES = 8 * 1024 * 1024;
/** …and resume when the backlog is down to this. */
const RESUME_AT_PENDING_BYTES = 2 * 1024 * 1024;
/** Uploads above this size check the disk before their bytes arrive; smaller ones at commit. */
const EARLY_CHECK_MIN_BYTES = 1024 * 1024;
/** What one connection may do and how long it may hold the server without using it. */
export interface SessionLimits {
  /** Requests in flight on one connection at once. */
  maxStreams: number;
  /** Largest file accepted, in bytes (0: no limit but the disk). */
  maxFileBytes: number;
  /** Part of a message and then silence; and an upload with no bytes: cut off after this. */
  stallMs: number;
  /** A connection with nothing in flight is closed after this. */
  idleMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxStreams: 256,
  maxFileBytes: 0,
  stallMs: 30_000,
  idleMs: 30 * 60_000,
};

export interface SessionComponents {
  limits?: SessionLimits;
  /** Counts file bytes in and out (for /metrics). */
  metrics?: Metrics;
  catalog: LocalCatalog;
  /** The whole cluster as this server sees it: listing, and where other files are. */
  view: ClusterView;
  mesh: PeerMesh;
  replicator: Replicator;
  /** Set when the other end is a server moving file bytes (REPLICA_* requests allowed). */
  peerId?: number;
  logger: Logger;
  /** The status of the cluster as this server sees it. */
  status: () => BodyOf<'STATUS_RESULT'>;
}

interface UploadStream {
  kind: 'upload';
  /** Set once the temp file is open; undefined while opening or after a refusal. */
  upload?: Upload;
  /** An error already sent for this stream: the rest of its frames are dropped. */
  refused: boolean;
  release?: () => void;
  /** Copies being streamed to other servers as the bytes arrive. */
  copies?: CopySet;
  /** A replay of a request already applied: its bytes are dropped and this is the answer. */
  answered?: FileRecord;
  commit: (upload: Upload, end: BodyOf<'END'>) => Promise<unknown>;
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
          (e) => e.state.kind === 'upload' && e.state.upload !== undefined,
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
      if (message.type === 'DATA' || message.type === 'END' || message.type === 'CANCEL') {
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
    switch (message.type) {
      case 'LIST':
        return this.#list(streamId);
      case 'STATUS':
        this.#connection.send('STATUS_RESULT', streamId, this.#components.status());
        return this.#end(streamId);
      case 'CREATE':
        return await this.#startCreate(streamId, message.body);
      case 'EDIT':
        return await this.#startEdit(streamId, message.body);
      case 'DOWNLOAD':
        return await this.#download(streamId, message.body);
      case 'DELETE': {
        const name = validateName(message.body.name);
        if (this.#redirected(streamId, name, 'write')) return this.#end(streamId);
        const holders = this.#components.view
          .holders(name)
          .map((h) => h.id)
          .filter((id) => id !== this.#components.catalog.serverId);
        const tombstone = await this.#components.catalog.delete(name, holders);
        await this.#components.replicator.afterDelete(tombstone, holders);
        this.#connection.send('DONE', streamId, { record: null });
        return this.#end(streamId);
      }
      case 'REPLICA_PUT':
        return await this.#startReplicaPut(streamId, message.body);
      case 'REPLICA_DELETE': {
        this.#requirePeer(message.type);
        const t = message.body.tombstone;
        await this.#components.catalog.removeCopy({
          name: validateName(t.name),
          fileId: t.fileId,
          version: t.version,
          deletedAt: Date.now(),
          pending: [],
        });
        this.#connection.send('DONE', streamId, { record: null });
        return this.#end(streamId);
      }
      default:
        throw new ProtocolError(`A client cannot start a request with ${message.type}.`);
    }
  }

  async #startCreate(streamId: number, body: BodyOf<'CREATE'>): Promise<void> {
    const { catalog, view, mesh, replicator } = this.#components;
    const claim: { granted?: Promise<boolean> } = {};
    const fileId = newFileId();
    const state: UploadStream = {
      kind: 'upload',
      refused: false,
      commit: async (upload, end) => {
        const copies = state.copies;
        // The name must be ours on every live server before the create is acknowledged.
        if (!(await claim.granted)) {
          copies?.cancel();
          await upload.abort();
          mesh.releaseClaim(name);
          throw new NameExistsError(name, 'is being created on another server');
        }
        let record: FileRecord;
        try {
          record = await catalog.create(
            name,
            upload,
            { size: body.size, sha256: end.sha256 },
            { fileId, replicas: targets, requestId: body.requestId },
          );
        } catch (err) {
          copies?.cancel();
          mesh.releaseClaim(name);
          throw err;
        }
        // The copies already have the bytes; END lets them store them. Only now, so a
        // create that failed here never shows up on another server.
        const copied = copies ? await copies.end() : [];
        if (copied.length !== targets.length) {
          await catalog.setPlacement(name, fileId, catalog.serverId, copied);
          record = { ...record, replicas: copied };
        }
        return record;
      },
    };
    this.#setState(streamId, state);
    const name = validateName(body.name);
    this.#checkSize(body.size);
    if (view.has(name)) {
      // A replay of a create that was applied (its server died before answering): same answer.
      const existing = view.newestHolders(name)[0]?.record;
      if (existing?.requestId === body.requestId) {
        state.answered = existing;
        return;
      }
      throw new NameExistsError(name);
    }
    if (mesh.claimedElsewhere(name)) throw new NameExistsError(name);
    state.release = catalog.reserve(name);
    // Ask the other servers while the bytes arrive.
    claim.granted = mesh.claim(name);
    claim.granted.catch(() => undefined);
    // For a large upload, find out now (not after the bytes) that the path is taken on disk.
    if (body.size === null || body.size > EARLY_CHECK_MIN_BYTES)
      await catalog.directory.checkPlaceable(name);
    const targets = replicator.placeNew();
    state.upload = await catalog.directory.beginUpload();
    if (targets.length > 0) {
      const header = {
        name,
        fileId,
        version: 1,
        primary: catalog.serverId,
        replicas: targets,
        modifiedAt: Date.now(),
      };
      state.copies = replicator.startCopies(header, targets);
    }
  }

  async #startEdit(streamId: number, body: BodyOf<'EDIT'>): Promise<void> {
    const { catalog, replicator } = this.#components;
    const state: UploadStream = {
      kind: 'upload',
      refused: false,
      commit: async (upload, end) => {
        let record: FileRecord;
        try {
          record = await catalog.edit(
            name,
            body.baseVersion,
            upload,
            { size: body.size, sha256: end.sha256 },
            body.requestId,
          );
        } catch (err) {
          state.copies?.cancel();
          throw err;
        }
        // Holders that miss the new version (down, or failing now) catch up by themselves.
        await state.copies?.end();
        return record;
      },
    };
    this.#setState(streamId, state);
    const name = validateName(body.name);
    this.#checkSize(body.size);
    if (this.#redirected(streamId, name, 'write')) {
      state.refused = true; // the client goes elsewhere; drop its bytes until END or CANCEL
      return;
    }
    const existing = catalog.get(name);
    if (existing?.requestId === body.requestId) {
      state.answered = existing; // a replay of an edit that was applied: same answer
      return;
    }
    catalog.checkEditable(name, body.baseVersion);
    const current = existing!;
    state.upload = await catalog.directory.beginUpload();
    const holders = replicator.liveHolders(name, current.fileId);
    if (holders.length > 0) {
      const header = {
        name,
        fileId: current.fileId,
        version: body.baseVersion + 1,
        primary: catalog.serverId,
        replicas: current.replicas,
        requestId: body.requestId,
        modifiedAt: Date.now(),
      };
      state.copies = replicator.startCopies(header, holders);
    }
  }

  /** A copy (or a new version of one) from the file's primary; size and sha256 come with END. */
  async #startReplicaPut(streamId: number, body: BodyOf<'REPLICA_PUT'>): Promise<void> {
    this.#requirePeer('REPLICA_PUT');
    const { catalog } = this.#components;
    const header = { ...body.record, name: validateName(body.record.name) };
    const state: UploadStream = {
      kind: 'upload',
      refused: false,
      commit: async (upload, end) =>
        await catalog.storeCopy({ ...header, size: end.size, sha256: end.sha256 }, upload, {
          size: end.size,
          sha256: end.sha256,
        }),
    };
    this.#setState(streamId, state);
    state.upload = await catalog.directory.beginUpload();
  }

  #tooLarge(): LanfsError {
    return new LanfsError(
      'LANFS_ERR_TOO_LARGE',
      `Files on this server are limited to ${this.#limits.maxFileBytes} bytes (--max-file-size); nothing was stored.`,
    );
  }

  #checkSize(size: number | null): void {
    if (size !== null && this.#limits.maxFileBytes > 0 && size > this.#limits.maxFileBytes)
      throw this.#tooLarge();
  }

  #requirePeer(type: string): void {
    if (this.#components.peerId === undefined)
      throw new ProtocolError(`Only a server may send ${type}.`);
  }

  async #continueUpload(streamId: number, state: UploadStream, message: Message): Promise<void> {
    if (state.refused || state.answered) {
      if (message.type === 'END' && state.answered)
        this.#connection.send('DONE', streamId, { record: state.answered });
      if (message.type === 'END' || message.type === 'CANCEL') this.#end(streamId);
      return;
    }
    const upload = state.upload;
    if (!upload)
      throw new ProtocolError('Upload frames arrived for a stream that is not uploading.');
    switch (message.type) {
      case 'DATA':
        if (
          this.#limits.maxFileBytes > 0 &&
          upload.size + message.bytes.length > this.#limits.maxFileBytes
        )
          throw this.#tooLarge();
        this.#components.metrics?.bytesIn.inc({ via: 'tcp' }, message.bytes.length);
        await Promise.all([upload.write(message.bytes), state.copies?.write(message.bytes)]);
        return;
      case 'END': {
        state.upload = undefined;
        if (upload.size !== message.body.size) {
          await upload.abort();
          throw new ChecksumMismatchError(
            `The upload ended after ${upload.size} bytes but the client sent ${message.body.size}; nothing was stored.`,
          );
        }
        const record = (await state.commit(upload, message.body)) as BodyOf<'DONE'>['record'];
        state.release?.();
        this.#connection.send('DONE', streamId, { record });
        return this.#end(streamId);
      }
      case 'CANCEL':
        state.upload = undefined;
        state.copies?.cancel();
        await upload.abort();
        state.release?.();
        return this.#end(streamId);
      default:
        throw new ProtocolError(`${message.type} is not valid during an upload.`);
    }
  }

  async #download(streamId: number, body: BodyOf<'DOWNLOAD'>): Promise<void> {
    const name = validateName(body.name);
    // A server fetching a copy reads what we hold; a client is sent to the newest version.
    if (this.#components.peerId === undefined && this.#redirected(streamId, name, 'read'))
      return this.#end(streamId);
    const { record, handle, file, release } = await this.#components.catalog.openFile(name);
    let inFlight: Promise<unknown> | undefined;
    let corked = false;
    try {
      const offset = Math.min(body.offset, file.size);
      const hash = createHash('sha256');
      // Read one chunk ahead, so the disk and the socket work at the same time.
      const readAt = async (position: number): Promise<Buffer> => {
        const buffer = Buffer.allocUnsafe(Math.min(DATA_CHUNK_BYTES, file.size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      };
      const startRead = (position: number): Promise<Buffer> | undefined => {
        if (position >= file.size) return undefined;
        const read = readAt(position);
        read.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
        inFlight = read;
        return read;
      };
      let position = offset;
      let next = startRead(position);
      // FILE, the data and END of a small file leave in one packet.
      this.#connection.cork();
      corked = true;
      this.#connection.send('FILE', streamId, { record, offset });
      while (next) {
        const chunk = await next;
        if (chunk.length === 0) break; // the file shrank under us: END's size and sha256 tell the client
        position += chunk.length;
        next = startRead(position);
        hash.update(chunk);
        this.#components.metrics?.bytesOut.inc({ via: 'tcp' }, chunk.length);
        if (!this.#connection.sendData(streamId, chunk)) {
          this.#connection.uncork();
          corked = false;
          await this.#connection.drain();
        }
      }
      // The sha256 of the bytes actually sent from `offset` on; the client checks the whole file.
      this.#connection.send('END', streamId, {
        size: position - offset,
        sha256: hash.digest('hex'),
      });
    } finally {
      if (corked) this.#connection.uncork();
      await inFlight?.catch(() => undefined); // never release the descriptor under a read
      release();
    }
    this.#end(streamId);
  }

  #list(streamId: number): void {
    const pages = pageRecords(this.#components.view.list());
    pages.forEach((records, i) => {
      this.#connection.send('LIST_PAGE', streamId, { records, done: i === pages.length - 1 });
    });
    this.#end(streamId);
  }

  /**
   * Sends REDIRECT when another server should answer (a
   * read: a live holder of the newest version; a write: the acting primary) and
   * returns true; throws Unavailable when every holder is down, NotFound when no
   * server holds the name. Returns false when this server answers.
   */
  #redirected(streamId: number, name: string, purpose: 'read' | 'write'): boolean {
    const view = this.#components.view;
    const location = purpose === 'read' ? view.locateForRead(name) : view.locateForWrite(name);
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
    if (state.kind === 'upload' && failedOn !== 'END' && failedOn !== 'CANCEL') {
      // Keep the stream open, dropping its frames, until the client's END or CANCEL.
      state.refused = true;
      state.release?.();
      state.copies?.cancel();
      const upload = state.upload;
      state.upload = undefined;
      await upload?.abort();
    } else {
      if (state.kind === 'upload') {
        state.release?.();
        state.copies?.cancel();
      }
      this.#end(streamId);
    }
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
        state.release?.();
        state.copies?.cancel();
        void state.upload?.abort();
        state.upload = undefined;
      }
    }
    this.#streams.clear();
  }
}
