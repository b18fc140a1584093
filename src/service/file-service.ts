/**
 * The file operations of one server (SPEC §2.4), whatever the front end: create,
 * edit, delete, download, list and status, and the replica side (a copy stored,
 * a copy dropped). It takes bytes chunk by chunk and returns records or throws
 * the errors of shared/errors.ts; it never sees a socket or an HTTP request.
 * The TCP session (server/client-session.ts) and the HTTP handlers
 * (web/http-server.ts) only translate their requests into these calls.
 *
 * Where a request must run is the front end's decision, made with locate(): the
 * TCP session answers REDIRECT, the HTTP side a 307 (reads) or a forwarded
 * request (deletes, see delete()). Cluster rules stay here: claims before a
 * create is acknowledged, copies streamed while the bytes arrive, and replays of
 * a request id answered with the record it already made.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { ClusterView, Location } from '../cluster/cluster-view.ts';
import type { PeerLink, PeerLinks } from '../cluster/peer-link.ts';
import { Redirect } from '../transport/request-streams.ts';
import type { ViewFreshness } from '../cluster/view-freshness.ts';
import type { PeerMesh } from '../cluster/peer-mesh.ts';
import type { CopySet, Replicator } from '../cluster/replicator.ts';
import { DATA_CHUNK_BYTES } from '../protocol/frame.ts';
import { validateName } from '../protocol/file-name.ts';
import {
  fileDescriptionSchema,
  nextLineage,
  type BodyOf,
  type FileRecord,
  type Lease,
  type ReplicaHeader,
  type TombstoneRef,
} from '../protocol/messages.ts';
import {
  ChecksumMismatchError,
  InvalidMetadataError,
  LanfsError,
  NameExistsError,
  ProtocolError,
  NotFoundError,
  UnavailableError,
  VersionNotKeptError,
} from '../shared/errors.ts';
import type { Upload } from '../storage/data-directory.ts';
import {
  described,
  newFileId,
  type LocalCatalog,
  type OpenedFile,
} from '../storage/local-catalog.ts';
import type { KeptEntry } from '../storage/state-store.ts';
import { mergeOwnEntries } from '../protocol/listing.ts';
import type { ClusterEvent } from '../events/event-stream.ts';
import { DeleteBrake, type DeleteBurst } from './delete-brake.ts';
import { LeaseTable, type LeaseAnswer } from './leases.ts';
import { ChunkReader } from './chunk-reader.ts';

/** Uploads above this size check the disk before their bytes arrive; smaller ones at commit. */
const EARLY_CHECK_MIN_BYTES = 1024 * 1024;
/** A delete forwarded to the acting primary follows at most this many redirects. */
const MAX_FORWARD_HOPS = 3;
/** How long a question to every live peer waits for each (status, trash, leases for HTTP). */
const PEER_ASK_MS = 2000;

export interface FileServiceComponents {
  catalog: LocalCatalog;
  /** The whole cluster as this server sees it: listing, and where other files are. */
  view: ClusterView;
  mesh: PeerMesh;
  replicator: Replicator;
  /** Links to other servers, for requests forwarded to a file's acting primary. */
  peers: PeerLinks;
  /** Largest file accepted, in bytes (0: no limit but the disk). */
  maxFileBytes: number;
  /** The status of the cluster as this server sees it. */
  status: () => BodyOf<'STATUS_RESULT'>;
  /** --delete-brake: deletes from one client within a minute past which none purges. */
  deleteBrake?: number;
  /** Called when a burst of deletes starts (to log it and tell watchers). */
  onDeleteBurst?: (burst: DeleteBurst) => void;
  /**
   * Called with what only this server knows happened (issue 14: a restore, a trash
   * move, an undelete, a lease taken or ended), for its event stream and its peers'.
   */
  onEvent?: (event: ClusterEvent) => void;
  /** Whether the view may be behind after a start or a stall (cluster/view-freshness.ts). */
  freshness?: ViewFreshness;
}

/**
 * What a write ends with: the size of the bytes the writer sent and their sha256,
 * checked against what arrived. A writer with no hash of its own (an HTTP body)
 * leaves it out; the bytes' hash taken on arrival is then the file's.
 */
export interface WriteEnd {
  size: number;
  sha256?: string;
  /** The S3 ETag the S3 front end computed over the bytes (or a copy's, from its primary). */
  s3ETag?: string;
}

/** What a writer says about a new version besides its bytes (kept with the record). */
export interface FileDescription {
  contentType?: string;
  metadata?: Record<string, string>;
}

/**
 * An upload in progress (create, edit or copy). Call write() for each chunk in
 * order, waiting for it (that is the backpressure), then finish() or abort().
 * After a rejected write() the caller must still call abort().
 */
export interface WriteHandle {
  /** Bytes accepted so far. */
  readonly received: number;
  write(chunk: Buffer): Promise<void>;
  /** Checks size and sha256, makes the change durable (here and on the copies); the new record. */
  finish(end: WriteEnd): Promise<FileRecord>;
  /** Size and sha256 of the bytes received so far (sha256 null where they were not hashed). */
  sum(): { size: number; sha256: string | null };
  /** Throws the upload away and releases what it held; never throws. */
  abort(): Promise<void>;
}

/** A file open for reading: its record describes exactly the bytes behind the handle. */
/** A file opened for reading: a small one as its bytes, a large one as a descriptor. */
export type OpenForRead = OpenedFile;

export class FileService {
  readonly #c: FileServiceComponents;
  /** Edit leases of the files this server is the acting primary of (service/leases.ts). */
  readonly leases: LeaseTable;
  readonly #brake: DeleteBrake;
  /**
   * Creates and edits of a name whose copies may still be on their way (END not yet
   * answered): a delete of the name waits for them, or its REPLICA_DELETE could reach
   * a copy holder before the END that stores the copy, which would outlive the delete.
   */
  readonly #writing = new Map<string, Promise<unknown>>();
  /**
   * The servers this server's creates and edits of a name sent a copy to: a delete
   * tells them too, since neither the view nor the placement may show a copy yet
   * (a repair round can set the placement to the holders seen while END is in flight).
   */
  readonly #copiedTo = new Map<string, Set<number>>();

  constructor(components: FileServiceComponents) {
    this.#c = components;
    this.leases = new LeaseTable(components.catalog.serverId);
    this.#brake = new DeleteBrake(components.deleteBrake);
    this.leases.onChange((change, lease) =>
      this.#emit({
        type: `lease-${change}`,
        name: lease.name,
        host: lease.host,
        since: lease.since,
      }),
    );
  }

  /** Tells onEvent, stamped with the time and this server. */
  #emit(event: DistributiveOmit<ClusterEvent, 'at' | 'serverId'>): void {
    this.#c.onEvent?.({ ...event, at: Date.now(), serverId: this.serverId });
  }

  get serverId(): number {
    return this.#c.catalog.serverId;
  }

  /**
   * Where a request about name runs: a read on any live holder of the newest
   * version, a write (edit, delete) on the acting primary. 'local' means here.
   */
  locate(name: string, purpose: 'read' | 'write'): Location {
    const view = this.#c.view;
    return purpose === 'read' ? view.locateForRead(name) : view.locateForWrite(name);
  }

  /**
   * Resolves once this server's view is as current as its peers' (at once, unless it
   * just started or its event loop just stood still): a client's read or write here
   * must not meet an old copy, nor a create miss a peer's claim (issue 13's torture).
   */
  async current(): Promise<void> {
    await this.#c.freshness?.settled();
  }

  /**
   * True when this server's view went unsure during a write (its loop stood still):
   * after waiting until it is current again, the write must be checked once more.
   */
  async #stoodStill(name: string, received: Upload, stallsAtBegin: number): Promise<boolean> {
    const freshness = this.#c.freshness;
    // A stall during the upload whose catch-up already ended (the bytes' END came after
    // the peers were heard again) still counts: the checks at begin predate it (seed 13's
    // torture: a thawed primary applied an edit of a file deleted during its freeze).
    if (!freshness || (!freshness.unsure && freshness.stalls === stallsAtBegin)) return false;
    if (await freshness.settled()) return true;
    await received.abort();
    throw new LanfsError(
      'LANFS_ERR_UNAVAILABLE',
      `This server stood still while "${name}" was being written and has not heard the other servers since; nothing was written: try again in a moment.`,
    );
  }

  /**
   * The files of the cluster in name order: all, or at most `limit` of those after
   * the name `after` whose names start with `prefix` (a seek in the view's index).
   */
  list(limit = Infinity, after?: string, prefix?: string): FileRecord[] {
    return this.#c.view.listPage(limit, after, prefix).records;
  }

  /** As list, the names alone. */
  listNames(limit = Infinity, after?: string, prefix?: string): string[] {
    return this.#c.view.listNamesPage(limit, after, prefix).names;
  }

  status(): BodyOf<'STATUS_RESULT'> {
    return this.#c.status();
  }

  /**
   * Opens a local file for reading (bytes shared through the open-file cache);
   * the caller must call release(). Throws NotFound if this server does not hold it.
   */
  async openForRead(name: string): Promise<OpenForRead> {
    return await this.#c.catalog.openFile(validateName(name));
  }

  /**
   * Streams the bytes of a file that server serverId holds into sink (which the
   * caller ends), over the link to that server: for a front end that serves a file
   * held elsewhere itself instead of sending its client there (the dashboard).
   * onStart gets the holder's record before any byte; the promise resolves once
   * the whole file matched that record's sha256, and rejects otherwise (the caller
   * must then discard what the sink got).
   */
  async readRemote(
    name: string,
    serverId: number,
    sink: Writable,
    onStart: (record: FileRecord) => void,
    /** A kept version instead of the newest (issue 14: GET /files/NAME?version=N). */
    version?: number,
  ): Promise<FileRecord> {
    const link = await this.#c.peers.get(serverId);
    return await link.download(validateName(name), sink, {
      onStart,
      ...(version === undefined ? {} : { version }),
    });
  }

  /**
   * The bytes of a file as one stream, wherever the newest version is: this server's
   * disk, or a live holder over the peer link (checked against its sha256 there; a
   * mismatch or a lost holder errors the stream). For front ends that copy or move a
   * file (WebDAV COPY/MOVE, S3 CopyObject). Throws NotFound / Unavailable at once.
   */
  readBytes(name: string): Readable {
    const checked = validateName(name);
    const location = this.locate(checked, 'read');
    if (location.kind === 'none') throw new NotFoundError(checked);
    if (location.kind === 'down') throw new UnavailableError(checked, location.holders);
    if (location.kind === 'remote') {
      const sink = new PassThrough({ highWaterMark: DATA_CHUNK_BYTES * 4 });
      this.readRemote(checked, location.serverId, sink, () => undefined).then(
        () => sink.end(),
        (err: unknown) => sink.destroy(err as Error),
      );
      return sink;
    }
    const catalog = this.#c.catalog;
    return Readable.from(
      (async function* () {
        const open = await catalog.openFile(checked);
        try {
          if (open.bytes) {
            yield open.bytes;
            return;
          }
          // No chunk is given back for reuse: the reader of the stream may keep them.
          for await (const chunk of new ChunkReader(open.handle, 0, open.record.size))
            yield chunk.bytes;
        } finally {
          open.release();
        }
      })(),
      { objectMode: false },
    );
  }

  /**
   * Starts a create: this server becomes the file's primary. Refuses at once a
   * name any server holds or has claimed; a replay of a create already applied
   * (same request id) gets a handle that drops its bytes and answers that record.
   */
  async beginCreate(request: {
    name: string;
    size: number | null;
    requestId?: string;
    description?: FileDescription;
    /** The client's host name, kept in the record. */
    writtenBy?: string;
    /** A replay: servers that took this create first and died before answering. */
    mayHold?: number[];
    /**
     * The writer's END will carry the bytes' sha256 (the lanfs protocol's always does):
     * then a copy's sha256 can vouch for a large file's bytes here (Upload.leaveHashToCopies).
     */
    sha256AtEnd?: boolean;
  }): Promise<WriteHandle> {
    const { catalog, view, mesh, replicator } = this.#c;
    const stallsAtBegin = this.#c.freshness?.stalls ?? 0;
    const name = validateName(request.name);
    this.#checkSize(request.size);
    checkDescription(request.description);
    if (view.has(name)) {
      // A replay of a create that was applied (its server died before answering): same answer.
      const existing = view.newestHolders(name)[0]?.record;
      if (request.requestId !== undefined && existing?.requestId === request.requestId)
        return answered(existing);
      throw new NameExistsError(name);
    }
    if (mesh.claimedElsewhere(name)) throw new NameExistsError(name);
    const fileId = this.#newFileId(name, request);
    const release = catalog.reserve(name);
    // Ask the other servers while the bytes arrive.
    const granted = mesh.claim(name);
    granted.catch(() => undefined);
    let upload: Upload | undefined;
    let copies: CopySet | undefined;
    let targets: number[];
    let placedAmong: ReturnType<ClusterView['placementCandidates']> = [];
    try {
      // For a large upload, find out now (not after the bytes) that the path is taken on disk.
      if (request.size === null || request.size > EARLY_CHECK_MIN_BYTES)
        await catalog.directory.checkPlaceable(name);
      // What the rule chose from, kept in the record so `lanfs why` can show it later:
      // bytes only beside a capacity (the only rule that weighs them), as each record keeps it.
      placedAmong = view
        .placementCandidates()
        .slice(0, 64)
        .map(({ id, files, bytes, capacity }) =>
          capacity === undefined ? { id, files } : { id, files, bytes, capacity },
        );
      targets = replicator.placeNew();
      upload = await catalog.directory.beginUpload();
      if (targets.length > 0)
        copies = replicator.startCopies(
          {
            name,
            fileId,
            version: 1,
            primary: catalog.serverId,
            replicas: targets,
            modifiedAt: Date.now(),
            ...described({ ...request.description, writtenBy: request.writtenBy, placedAmong }),
          },
          targets,
        );
      if (copies && request.sha256AtEnd) upload.leaveHashToCopies();
    } catch (err) {
      release();
      mesh.releaseClaim(name);
      await upload?.abort();
      throw err;
    }
    const placed = targets;
    return this.#handle(upload, copies, {
      abort: () => {
        release();
        mesh.releaseClaim(name);
      },
      commit: async (received, end) => {
        const written = this.#startWriting(name);
        try {
          // The name must be ours on every live server before the create is acknowledged.
          if (!(await granted)) {
            await received.abort();
            throw new NameExistsError(name, 'is being created on another server');
          }
          // Stood still while the bytes came (a freeze): others may have made the name meanwhile.
          if (await this.#stoodStill(name, received, stallsAtBegin)) {
            if (view.has(name)) {
              await received.abort();
              throw new NameExistsError(name, 'was created on another server meanwhile');
            }
          }
          let record = await catalog.create(
            name,
            received,
            { size: request.size, sha256: end.sha256 },
            {
              fileId,
              replicas: placed,
              requestId: request.requestId,
              description: {
                ...request.description,
                s3ETag: end.s3ETag,
                writtenBy: request.writtenBy,
                placedAmong,
              },
            },
          );
          // The copies already have the bytes; END lets them store them. Only now, so a
          // create that failed here never shows up on another server, and no copy holder
          // is ever the only holder of a file whose primary is still storing it (it would
          // look like the acting primary meanwhile).
          const copied = copies
            ? await copies.end({ sha256: record.sha256, s3ETag: end.s3ETag })
            : [];
          this.#noteCopies(name, copied);
          if (request.mayHold) replicator.noteMayHold(name, fileId, request.mayHold);
          if (copied.length !== placed.length) {
            await catalog.setPlacement(name, fileId, catalog.serverId, copied);
            record = { ...record, replicas: copied };
          }
          return record;
        } catch (err) {
          copies?.cancel();
          mesh.releaseClaim(name);
          throw err;
        } finally {
          release();
          written();
        }
      },
    });
  }

  /**
   * The id of a new file: derived from the request id when there is one (newFileId),
   * so a replay after the first server died makes the same file. A derived id some
   * tombstone already covers was made and deleted: a late replay is refused as of
   * unknown outcome by the client (name taken); a request id used again for a new
   * create (a client's bug) gets a random id instead.
   */
  #newFileId(name: string, request: { requestId?: string; mayHold?: number[] }): string {
    const fileId = newFileId({ name, requestId: request.requestId });
    if (
      request.requestId === undefined ||
      !this.#c.view.coveringTombstone(name, { fileId, version: 1 })
    )
      return fileId;
    if (request.mayHold)
      throw new NameExistsError(name, 'was made by this request before and deleted since');
    return newFileId();
  }

  /**
   * Starts an edit of a file whose acting primary is this server (check with
   * locate(name, 'write') first); throws NotFound / EditConflict / Unavailable.
   * The new version streams to the other live holders as it arrives.
   */
  async beginEdit(request: {
    name: string;
    size: number | null;
    baseVersion: number;
    requestId?: string;
    /** Replaces the description of the version before; absent keeps it (a plain edit). */
    description?: FileDescription;
    writtenBy?: string;
    /**
     * The writer's END will carry the bytes' sha256 (the lanfs protocol's always does):
     * then a copy's sha256 can vouch for a large file's bytes here (Upload.leaveHashToCopies).
     */
    sha256AtEnd?: boolean;
  }): Promise<WriteHandle> {
    const { catalog, replicator } = this.#c;
    const stallsAtBegin = this.#c.freshness?.stalls ?? 0;
    const name = validateName(request.name);
    this.#checkSize(request.size);
    checkDescription(request.description);
    this.#requireHere(name);
    const existing = catalog.get(name);
    // A replay of an edit that was applied (here, or on the server that died before
    // answering and copied it here): the same answer, whatever changed since.
    const replayed =
      request.requestId === undefined ? undefined : catalog.recentWrite(name, request.requestId);
    if (replayed) return answered(replayed);
    if (request.requestId !== undefined && existing?.requestId === request.requestId)
      return answered(existing);
    // Deleted elsewhere, and this server's copy not removed yet (its replicator does that
    // in its next round): an edit here would make a version that beats the delete (seed
    // 13's torture: a thawed server edited a file deleted during its freeze).
    if (existing && this.#c.view.coveringTombstone(name, existing)) throw new NotFoundError(name);
    try {
      catalog.checkEditable(name, request.baseVersion);
    } catch (err) {
      // A replay of an edit that was applied, with later edits on top: still the same answer.
      const applied =
        request.requestId === undefined ? undefined : catalog.editedBy(name, request.requestId);
      if (applied) return answered(applied);
      throw err;
    }
    const current = existing!;
    const description: FileDescription = request.description ?? {
      contentType: current.contentType,
      metadata: current.metadata,
    };
    const upload = await catalog.directory.beginUpload();
    const holders = replicator.liveHolders(name, current.fileId);
    const copies =
      holders.length > 0
        ? replicator.startCopies(
            {
              name,
              fileId: current.fileId,
              version: request.baseVersion + 1,
              primary: catalog.serverId,
              replicas: current.replicas,
              lineage: nextLineage(current),
              requestId: request.requestId,
              modifiedAt: Date.now(),
              ...described({
                ...description,
                writtenBy: request.writtenBy,
                placedAmong: current.placedAmong,
              }),
            },
            holders,
          )
        : undefined;
    if (copies && request.sha256AtEnd) upload.leaveHashToCopies();
    return this.#handle(upload, copies, {
      commit: async (received, end) => {
        const written = this.#startWriting(name);
        let record: FileRecord;
        try {
          // Stood still while the bytes came (a freeze): the others may have deleted the
          // file, or taken over as its primary, meanwhile.
          if (await this.#stoodStill(name, received, stallsAtBegin)) {
            const now = catalog.get(name);
            if (!now || this.#c.view.coveringTombstone(name, now)) {
              await received.abort();
              throw new NotFoundError(name);
            }
            this.#requireHere(name);
          }
          record = await catalog.edit(
            name,
            request.baseVersion,
            received,
            { size: request.size, sha256: end.sha256 },
            request.requestId,
            {
              ...description,
              s3ETag: end.s3ETag,
              writtenBy: request.writtenBy,
              placedAmong: current.placedAmong,
            },
          );
        } catch (err) {
          copies?.cancel();
          written();
          throw err;
        }
        // Holders that miss the new version (down, or failing now) catch up by themselves.
        try {
          this.#noteCopies(
            name,
            (await copies?.end({ sha256: record.sha256, s3ETag: end.s3ETag })) ?? [],
          );
        } finally {
          written();
        }
        return record;
      },
    });
  }

  /** A copy (or a new version of one) sent by the file's primary; size and sha256 come at the end. */
  async beginReplicaPut(header: ReplicaHeader): Promise<WriteHandle> {
    const { catalog } = this.#c;
    const record = { ...header, name: validateName(header.name) };
    const upload = await catalog.directory.beginUpload();
    return this.#handle(upload, undefined, {
      commit: async (received, end) => {
        // A copy is always checked: the primary's END carries the sha256 it sent.
        if (end.sha256 === undefined) throw new ProtocolError('A copy must end with its sha256.');
        // A copy of a version deleted while it was on its way (a heal racing a delete)
        // would outlive the delete: the tombstone says it is gone.
        if (this.#c.view.coveringTombstone(record.name, record)) {
          await received.abort();
          throw new NotFoundError(record.name);
        }
        return await catalog.storeCopy(
          {
            ...record,
            size: end.size,
            sha256: end.sha256,
            ...described({ s3ETag: end.s3ETag ?? record.s3ETag }),
          },
          received,
          end,
        );
      },
    });
  }

  /**
   * Deletes name. Here when this server is the acting primary: the bytes and record
   * go, a tombstone stays, and the other live holders drop their copies. When
   * another server is, the delete is forwarded to it over a server-to-server link
   * (a front end that would rather send the client there checks locate() first).
   */
  async delete(
    name: string,
    requestId: string = randomBytes(12).toString('hex'),
    options: { purge?: boolean; host?: string } = {},
  ): Promise<void> {
    const checked = validateName(name);
    let location = this.#requireKnown(checked);
    for (let hop = 0; location.kind === 'remote'; hop++) {
      if (hop >= MAX_FORWARD_HOPS) throw new UnavailableError(checked, [location.serverId]);
      try {
        await (
          await this.#c.peers.get(location.serverId)
        ).delete({ name: checked, requestId, ...options });
        return;
      } catch (err) {
        if (!(err instanceof Redirect)) throw err;
        if (err.serverId === this.serverId) location = { kind: 'local' };
        else location = { kind: 'remote', serverId: err.serverId, address: err.address };
      }
    }
    // Every write that began before: one may begin while we wait (a delete runs after it).
    for (let waits = 0; this.#writing.has(checked) && waits < 100; waits++)
      await this.#writing.get(checked);
    // The copy holders the placement names too: one that just stored a copy may not be
    // in the view yet, and must still be told and waited for. So is the file's primary
    // when another server deletes as acting primary: it may have died before its record
    // reached anyone, and would come back with the file (a torture wrong read).
    const own = this.#c.catalog.get(checked);
    const holders = [
      ...new Set([
        ...this.#c.view.holders(checked).map((h) => h.id),
        ...(own ? [own.primary, ...own.replicas] : []),
        ...(this.#copiedTo.get(checked) ?? []),
      ]),
    ].filter((id) => id !== this.serverId);
    this.#copiedTo.delete(checked);
    let purge = options.purge === true;
    if (options.host !== undefined) {
      const { braking, started } = this.#brake.note(options.host, checked, (folder) =>
        this.#filesIn(folder),
      );
      if (started) this.#c.onDeleteBurst?.(started);
      // A burst never purges, whatever it asked: the undo must stay possible.
      if (braking) purge = false;
    }
    const tombstone = await this.#c.catalog.delete(checked, holders, {
      purge,
      deletedBy: options.host,
    });
    this.#emit({
      type: purge ? 'purged' : 'trashed',
      name: checked,
      version: tombstone.version,
      ...(options.host ? { host: options.host } : {}),
    });
    // Live copy holders skip the trash too; one down now trashes its copy when the
    // tombstone reaches it (the tombstone does not say purge: docs/ARCHITECTURE.md).
    await this.#c.replicator.afterDelete(tombstone, holders, { purge });
  }

  #noteCopies(name: string, ids: number[]): void {
    if (this.#copiedTo.size > 10_000) this.#copiedTo.clear(); // a bound, not a record
    const noted = this.#copiedTo.get(name) ?? new Set<number>();
    for (const id of ids) noted.add(id);
    this.#copiedTo.set(name, noted);
  }

  /** Marks a write of name as under way (see #writing); call the result when it is done. */
  #startWriting(name: string): () => void {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const before = this.#writing.get(name);
    const all = before ? Promise.all([before, finished]) : finished;
    this.#writing.set(name, all);
    return () => {
      finish();
      void all.then(() => {
        if (this.#writing.get(name) === all) this.#writing.delete(name);
      });
    };
  }

  #filesIn(folder: string): number {
    const prefix = folder === '' ? '' : `${folder}/`;
    let count = 0;
    for (const record of this.#c.view.list())
      if (record.name.startsWith(prefix) && !record.name.slice(prefix.length).includes('/'))
        count++;
    return count;
  }

  /** Bursts of deletes the brake caught (newest last). */
  deleteBursts(): DeleteBurst[] {
    return this.#brake.bursts();
  }

  /** The current record of a file this server holds and the versions it keeps of it. */
  history(name: string): { serverId: number; current: FileRecord; kept: KeptEntry[] } {
    return { serverId: this.serverId, ...this.#c.catalog.history(validateName(name)) };
  }

  /** A version of a local file (kept, or the current one) opened for reading; release() after. */
  async openVersion(name: string, version: number): Promise<OpenForRead> {
    return await this.#c.catalog.openVersion(validateName(name), version);
  }

  /** What this server's trash holds, newest delete first. */
  trash(): KeptEntry[] {
    // An entry whose file is back (undeleted from another server's trash: the same file at
    // a newer version) is no longer a deleted file; its bytes go with --trash-days or the budget.
    return this.#c.catalog.versions.trash().filter((e) => !this.#isBack(e));
  }

  /** Whether a trash entry's file is known here at a newer version (it was undeleted). */
  #isBack(entry: KeptEntry): boolean {
    return this.#c.view
      .holders(entry.record.name)
      .some(
        (h) => h.record.fileId === entry.record.fileId && h.record.version > entry.record.version,
      );
  }

  /** Bytes in files, kept versions and trash here, and the disk's free space. */
  async space(): Promise<{ files: number; versions: number; trash: number; free: number }> {
    const catalog = this.#c.catalog;
    let files = 0;
    for (const record of catalog.list()) files += record.size;
    return {
      files,
      ...catalog.versions.usage(),
      free: await catalog.versions.freeBytes().catch(() => 0),
    };
  }

  /**
   * Brings a trash entry of this server back under its name (or `as`): a create,
   * claimed like one (refused if any server holds the name), of the same file one
   * version up (see LocalCatalog.undelete); its copies are made by healing.
   */
  async undelete(key: string, as?: string): Promise<FileRecord> {
    const { catalog, view, mesh } = this.#c;
    const entry = catalog.versions.get(key);
    if (!entry || entry.place !== 'trash')
      throw new NotFoundError(as ?? key.replace(/^trash\//, ''));
    const name = validateName(as ?? entry.record.name);
    // Records of the very file deleted (same fileId, not newer) are only a delete that has
    // not reached this server's view yet: no one reused the name.
    const reused =
      view.has(name) &&
      !view
        .holders(name)
        .every(
          (h) =>
            h.record.fileId === entry.record.fileId && h.record.version <= entry.record.version,
        );
    if (reused || mesh.claimedElsewhere(name))
      throw new NameExistsError(
        name,
        'exists again (the name was used after the delete); bring the old one back under another name with --as NEW',
      );
    const release = catalog.reserve(name);
    try {
      if (!(await mesh.claim(name)))
        throw new NameExistsError(name, 'is being created on another server');
      release();
      const record = await catalog.undelete(key, as === undefined ? undefined : name);
      this.#emit({
        type: 'undeleted',
        name: record.name,
        version: record.version,
        ...(record.name !== entry.record.name ? { was: entry.record.name } : {}),
      });
      return record;
    } catch (err) {
      mesh.releaseClaim(name);
      throw err;
    } finally {
      release();
    }
  }

  /** Takes, renews or releases the edit lease of a file whose acting primary is this server. */
  lease(body: {
    name: string;
    action: 'take' | 'renew' | 'release';
    host: string;
    holder: string;
    force: boolean;
  }): LeaseAnswer {
    const name = validateName(body.name);
    if (body.action === 'release') return this.leases.release(name, body.holder);
    this.#requireKnown(name);
    return this.leases.take(name, body.host, body.holder, body.force);
  }

  /**
   * The status, with every live server's space and bursts of deletes (each server
   * knows only its own: the others are asked over the peer links; one that does
   * not answer is shown without them).
   */
  async statusEverywhere(): Promise<BodyOf<'STATUS_RESULT'>> {
    return mergeOwnEntries(
      this.status(),
      await this.#askLivePeers(async (link) => await link.status()),
    );
  }

  /** The edit leases held anywhere: here, and on every live peer that answers. */
  async leasesEverywhere(): Promise<Lease[]> {
    const theirs = await this.#askLivePeers(async (link) => (await link.leases()).leases);
    return [...this.leases.list(), ...theirs.flat()];
  }

  /**
   * Asks every live peer; those that fail, or do not answer within PEER_ASK_MS
   * (a frozen one would hold a page for the link's silence timeout), are left out.
   */
  async #askLivePeers<T>(ask: (link: PeerLink) => Promise<T>): Promise<T[]> {
    const others = this.#c.view.liveMembers().filter((m) => m.id !== this.serverId);
    const answers = await Promise.allSettled(
      others.map(async (m) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer in time')), PEER_ASK_MS);
        });
        try {
          return await Promise.race([ask(await this.#c.peers.get(m.id)), late]);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  }

  /**
   * The versions a live holder of name keeps: this server's when it holds the
   * newest version, else asked of one that does (HTTP's /api/history).
   */
  async historyAnywhere(name: string): Promise<BodyOf<'HISTORY_RESULT'>> {
    const checked = validateName(name);
    const location = this.locate(checked, 'read');
    if (location.kind === 'none') throw new NotFoundError(checked);
    if (location.kind === 'down') throw new UnavailableError(checked, location.holders);
    if (location.kind === 'local') return this.history(checked);
    return await (await this.#c.peers.get(location.serverId)).history(checked);
  }

  /**
   * Every live server's trash, one entry per deleted version with the servers
   * keeping it, newest delete first (a server that does not answer is left out).
   */
  async trashEverywhere(): Promise<(KeptEntry & { servers: number[] })[]> {
    const merged = new Map<string, KeptEntry & { servers: number[] }>();
    const add = (serverId: number, items: KeptEntry[]): void => {
      for (const item of items) {
        const known = merged.get(item.key);
        if (known) known.servers.push(serverId);
        else merged.set(item.key, { ...item, servers: [serverId] });
      }
    };
    add(this.serverId, this.trash());
    for (const answer of await this.#askLivePeers(async (link) => await link.trash()))
      add(answer.serverId, answer.items);
    // A peer that has not heard yet that a file is back still lists it: this view decides too.
    return [...merged.values()].filter((e) => !this.#isBack(e)).sort((a, b) => b.keptAt - a.keptAt);
  }

  /**
   * Brings back the newest trash entry deleted under name (as `as`, or its name),
   * from this server's trash or a live server keeping it (HTTP's /api/undelete).
   */
  async undeleteByName(name: string, as?: string): Promise<FileRecord> {
    const checked = validateName(name);
    const entry = (await this.trashEverywhere()).find((e) => e.record.name === checked);
    if (!entry) throw new NotFoundError(checked);
    // The file's last primary first: the name's claim from its create is its own there
    // (a peer may still hold that claim for a while: CLAIM_HOLD_MS in cluster/peer-mesh.ts).
    const order = [...entry.servers].sort(
      (a, b) =>
        Number(b === entry.record.primary) - Number(a === entry.record.primary) ||
        Number(b === this.serverId) - Number(a === this.serverId),
    );
    let last: unknown;
    for (const id of order) {
      if (id === this.serverId) {
        try {
          return await this.undelete(entry.key, as);
        } catch (err) {
          if (!notFound(err)) throw err;
          last = err;
          continue;
        }
      }
      try {
        const link = await this.#c.peers.get(id);
        return await link.undelete({
          key: entry.key,
          requestId: randomBytes(12).toString('hex'),
          ...(as === undefined ? {} : { as }),
        });
      } catch (err) {
        if (err instanceof LanfsError && err.code !== 'LANFS_ERR_NOT_FOUND') throw err;
        last = err;
      }
    }
    throw last instanceof Error ? last : new NotFoundError(checked);
  }

  /**
   * Uploads version `version` of name as its next version (history is never
   * rewritten, so a restore can be undone). Runs on the acting primary: forwarded
   * there over the peer link when that is another server. The bytes come from this
   * server's kept versions, or from a live holder that kept that version.
   */
  async restore(name: string, version: number, host?: string): Promise<FileRecord> {
    const checked = validateName(name);
    let location = this.#requireKnown(checked);
    for (let hop = 0; location.kind === 'remote'; hop++) {
      if (hop >= MAX_FORWARD_HOPS) throw new UnavailableError(checked, [location.serverId]);
      try {
        const link = await this.#c.peers.get(location.serverId);
        return await link.restore({ name: checked, version, ...(host ? { host } : {}) });
      } catch (err) {
        if (!(err instanceof Redirect)) throw err;
        location = { kind: 'remote', serverId: err.serverId, address: err.address };
      }
    }
    const current = this.#c.catalog.get(checked);
    if (!current) throw new NotFoundError(checked);
    const handle = await this.beginEdit({
      name: checked,
      size: null,
      baseVersion: current.version,
      writtenBy: host,
    });
    try {
      await this.#readVersionInto(checked, version, handle);
      const record = await handle.finish({ size: handle.received });
      this.#emit({
        type: 'restored',
        name: checked,
        from: version,
        version: record.version,
        ...(host ? { host } : {}),
      });
      return record;
    } catch (err) {
      await handle.abort();
      throw err;
    }
  }

  /** Feeds version `version` of name into handle: from this disk, else a live holder's. */
  async #readVersionInto(name: string, version: number, handle: WriteHandle): Promise<void> {
    let open: OpenForRead | undefined;
    try {
      open = await this.openVersion(name, version);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    if (open) {
      try {
        if (open.bytes) return await handle.write(open.bytes);
        // No chunk is given back for reuse: a small upload keeps its chunks in memory.
        for await (const chunk of new ChunkReader(open.handle, 0, open.record.size))
          await handle.write(chunk.bytes);
        return;
      } finally {
        open.release();
      }
    }
    // A copy holder may have seen versions this server did not (e.g. after a failover).
    const others = this.#c.view
      .newestHolders(name)
      .filter((h) => h.up && h.id !== this.serverId)
      .map((h) => h.id);
    for (const id of others) {
      const sink = new Writable({
        write: (chunk: Buffer, _encoding, done) =>
          void handle.write(chunk).then(() => done(), done),
      });
      try {
        await (await this.#c.peers.get(id)).download(name, sink, { version });
        return;
      } catch (err) {
        if (handle.received > 0 || !notFound(err)) throw err;
      }
    }
    throw new VersionNotKeptError(name, version);
  }

  /** Drops this server's copy of a deleted file (the primary's REPLICA_DELETE). */
  async replicaDelete(ref: TombstoneRef, options: { purge?: boolean } = {}): Promise<void> {
    await this.#c.catalog.removeCopy({ ...ref, name: validateName(ref.name) }, options);
  }

  #tooLarge(): LanfsError {
    return new LanfsError(
      'LANFS_ERR_TOO_LARGE',
      `Files on this server are limited to ${this.#c.maxFileBytes} bytes (--max-file-size); nothing was stored.`,
    );
  }

  #checkSize(size: number | null): void {
    if (size !== null && this.#c.maxFileBytes > 0 && size > this.#c.maxFileBytes)
      throw this.#tooLarge();
  }

  /** Throws unless the acting primary of name is this server. */
  #requireHere(name: string): void {
    const location = this.#requireKnown(name);
    if (location.kind === 'remote')
      throw new LanfsError(
        'LANFS_ERR_UNAVAILABLE',
        `"${name}" is changed through server ${location.serverId} (${location.address}), not this one.`,
      );
  }

  /** Where writes of name run; throws NotFound / Unavailable when nowhere now. */
  #requireKnown(name: string): Exclude<Location, { kind: 'down' } | { kind: 'none' }> {
    const location = this.locate(name, 'write');
    if (location.kind === 'none') throw new NotFoundError(name);
    if (location.kind === 'down') throw new UnavailableError(name, location.holders);
    return location;
  }

  /** The common part of every upload: size limit, bytes to the temp file and the copies. */
  #handle(
    upload: Upload,
    copies: CopySet | undefined,
    steps: {
      commit: (upload: Upload, end: WriteEnd) => Promise<FileRecord>;
      abort?: () => void;
    },
  ): WriteHandle {
    const maxBytes = this.#c.maxFileBytes;
    let done = false;
    const abort = async (): Promise<void> => {
      if (done) return;
      done = true;
      copies?.cancel();
      steps.abort?.();
      await upload.abort();
    };
    return {
      get received() {
        return upload.size;
      },
      write: async (chunk: Buffer): Promise<void> => {
        if (maxBytes > 0 && upload.size + chunk.length > maxBytes) throw this.#tooLarge();
        // The same buffer to both, never changed after it arrived: what a copy hashes is
        // what this server stores (Upload.leaveHashToCopies relies on it).
        await Promise.all([upload.write(chunk), copies?.write(chunk)]);
        // No copy left to vouch for bytes this server does not hash: read them back as
        // they are written, rather than all at once at the end.
        if (copies && upload.unhashed && copies.live() === 0) upload.hashFromDisk();
      },
      finish: async (end: WriteEnd): Promise<FileRecord> => {
        done = true;
        if (upload.size !== end.size) {
          copies?.cancel();
          steps.abort?.();
          await upload.abort();
          throw new ChecksumMismatchError(
            `The upload ended after ${upload.size} bytes but the sender said ${end.size}; nothing was stored.`,
          );
        }
        if (upload.unhashed && copies && end.sha256 !== undefined) {
          // Not hashed here: a copy whose bytes have the writer's sha256 vouches for ours,
          // since it got exactly what we store. Else finish() hashes the file read back.
          const sums = await copies.sums();
          if (sums.some((sum) => sum.size === upload.size && sum.sha256 === end.sha256))
            upload.vouch(end.sha256);
        }
        return await steps.commit(upload, end);
      },
      sum: () => upload.sumSoFar(),
      abort,
    };
  }
}

/** A handle for a request already applied: its bytes are dropped, its answer is the record. */
function answered(record: FileRecord): WriteHandle {
  let received = 0;
  return {
    get received() {
      return received;
    },
    write: (chunk) => {
      received += chunk.length;
      return Promise.resolve();
    },
    finish: () => Promise.resolve(record),
    sum: () => ({ size: received, sha256: null }),
    abort: () => Promise.resolve(),
  };
}

/** Refuses a media type or metadata over the limits every server applies to records. */
function checkDescription(description: FileDescription | undefined): void {
  if (description === undefined) return;
  const checked = fileDescriptionSchema.safeParse(description);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new InvalidMetadataError(
      `${issue?.path.join('.') || 'metadata'}: ${issue?.message ?? 'invalid'}`,
    );
  }
}

/** Omit over each member of a union (a plain Omit merges the union's members). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** NotFound, as thrown here or as it came over the wire. */
function notFound(err: unknown): boolean {
  return err instanceof LanfsError && err.code === 'LANFS_ERR_NOT_FOUND';
}
