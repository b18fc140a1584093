/**
 * Replication (SPEC §2.5): every file on `replicas` servers. After a create the
 * primary copies the file to the servers the placement rule picks; after an edit
 * it sends the new version to the other holders; after a delete it tells them to
 * drop their copies. A reconcile round every RECONCILE_INTERVAL_MS repairs what
 * those could not do at the time, the same way on every server:
 *
 *   - a copy older than the newest version is brought up to date (catch-up);
 *   - a copy covered by another server's tombstone is removed;
 *   - two different files under one name: the loser moves to a conflict name;
 *   - as acting primary: a file below its factor (a holder gone longer than the
 *     grace period, or never copied) gets a new copy; a surplus copy is removed;
 *   - this server's tombstones are buried once every former holder let go.
 *
 * A catch-up does not wait for a round: the moment a peer's records show a newer
 * version of a file held here (a member back with its full list, or a version
 * this server missed), the newest version is fetched, a few files at a time, so
 * a long round (many repairs on a busy machine) never holds a returning server
 * on old versions.
 *
 * File bytes move on "replicator" connections (one per peer, reused), apart
 * from the mesh link, so a large copy never delays heartbeats.
 */
import { Writable } from 'node:stream';
import { PeerLinks, type PeerLink, type UploadWriter } from './peer-link.ts';
import { covers, tombstoneRef, type FileRecord, type ReplicaHeader } from '../protocol/messages.ts';
import { ConnectionClosedError, LanfsError, TimeoutError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';
import type { Tombstone } from '../storage/state-store.ts';
import type { Credentials } from '../transport/handshake.ts';
import type { ClusterView, Holder } from './cluster-view.ts';
import { conflictOutcome, sameHistory } from './conflict-rule.ts';
import { choosePlacement } from './placement.ts';
import { CopyRate } from './copy-rate.ts';
import { DEFAULT_HEAL_AFTER_MS } from './defaults.ts';

/** How often the reconcile round runs. */
export const RECONCILE_INTERVAL_MS = 1000;
/** After start, how long to learn the cluster before healing (so nothing is copied in vain). */
const SETTLE_AFTER_START_MS = 3000;
/** Files repaired per round at most, so a returning or departing server causes no storm. */
const REPAIRS_PER_ROUND = 32;
const CONNECT_TIMEOUT_MS = 3000;
/** A file changed this recently is not healed yet: its copies may be on their way. */
const FRESH_FILE_MS = 2000;
/** Names looked at per round at most (changed ones first, then a slice of the sweep). */
const NAMES_PER_ROUND = 2000;
/** Every local file is looked at again at least this often (healing after the grace period). */
const FULL_SWEEP_INTERVAL_MS = 10_000;
/**
 * A server whose copy of a file just failed (its disk full, say) is not picked for
 * that file again for this long, so healing tries another server instead of the
 * same one every round (issue 13).
 */
const FAILED_TARGET_BACKOFF_MS = 60_000;
/** Catch-ups running at once outside the rounds. */
const CATCH_UPS_AT_ONCE = 4;
/** Names whose copies of unknown outcome are remembered at most (the oldest go first). */
const UNSURE_COPIES_NAMES = 10_000;

export interface ReplicatorOptions {
  serverId: number;
  /** Copies of each file, the primary included. */
  replicas: number;
  catalog: LocalCatalog;
  view: ClusterView;
  credentials: Credentials;
  logger: Logger;
  /** --heal-after: a holder down this long is replaced. */
  healAfterMs?: number;
  /**
   * True while this server's view may be behind (just started, or its event loop just
   * stood still: cluster/view-freshness.ts): no repair is decided on it meanwhile.
   */
  viewUnsure?: () => boolean;
  /** Whether the view holds this peer's records of its current run, whole (PeerMesh.syncedWith). */
  peerSynced?: (peerId: number) => boolean;
}

/** The copies of one upload in progress (see Replicator.startCopies). */
export interface CopySet {
  write: (chunk: Buffer) => Promise<void>;
  /**
   * Sends END to every target, with the sha256 the primary checked the bytes
   * against (the copies are not hashed again); resolves with the ids that stored it.
   */
  end: (extra: { sha256: string; s3ETag?: string }) => Promise<number[]>;
  /**
   * The size and sha256 of what each live copy received so far (REPLICA_SUM), for the
   * primary to check its own bytes against; a copy that cannot answer is left out.
   */
  sums: () => Promise<{ size: number; sha256: string | null }[]>;
  /** How many copies are still receiving (none: no copy will vouch for the bytes). */
  live: () => number;
  cancel: () => void;
}

export class Replicator {
  /** How fast the copies this server sent moved lately (lanfs plan). */
  readonly copyRate = new CopyRate();
  readonly #o: ReplicatorOptions;
  readonly #links: PeerLinks;
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  readonly #dirty = new Set<string>();
  #sweep: string[] = [];
  #sweptAt = 0;
  /** Names whose catch-up runs now, and those waiting for a turn (in order). */
  readonly #catchingUp = new Set<string>();
  readonly #catchUpQueue = new Set<string>();
  /** name → peer → when a copy of name to that peer last failed. */
  readonly #failedTargets = new Map<string, Map<number, number>>();
  /**
   * name → peer → fileId: copies sent in full whose END got no answer (the peer died
   * or the link broke). The peer may have stored the file anyway, though no record
   * says so: a delete of that file must wait for it (see afterDelete).
   */
  readonly #unsureCopies = new Map<string, Map<number, string>>();

  constructor(options: ReplicatorOptions) {
    this.#o = options;
    this.#links = new PeerLinks({
      selfId: options.serverId,
      credentials: options.credentials,
      addressOf: (peerId) => options.view.member(peerId)?.address,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
  }

  start(): void {
    this.#o.catalog.onChange((name) => this.markDirty(name));
    this.#o.view.onNameChange((name) => this.#peerChanged(name));
    this.#timer = setInterval(() => void this.reconcile(), RECONCILE_INTERVAL_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#links.close();
  }

  /** The servers a new file's copies go to, by the placement rule (this server is the primary). */
  placeNew(): number[] {
    return choosePlacement(this.#o.view.placementCandidates(), this.#o.replicas - 1);
  }

  /** The other live servers holding this version of the file (an edit's new version goes to them). */
  liveHolders(name: string, fileId: string): number[] {
    return this.#o.view
      .holders(name)
      .filter((h) => h.id !== this.#o.serverId && h.up && h.record.fileId === fileId)
      .map((h) => h.id);
  }

  /**
   * Copies streamed while the upload arrives: every chunk the client sends is
   * forwarded to each target at once, so a create with copies costs little more
   * than one upload. A target that fails is dropped (healing makes the copy later);
   * it never fails the client's request.
   */
  startCopies(header: ReplicaHeader, targets: number[]): CopySet {
    const writers = targets.map((id) => ({ id, writer: this.#openCopy(id, header) }));
    const lost = new Set<number>();
    const failed = (id: number, err: unknown, atEnd = false): undefined => {
      lost.add(id);
      this.#copyFailed(header.name, id);
      const unsure = atEnd && this.#noteUnsure(header.name, header.fileId, id, err);
      this.#o.logger.warn(
        {
          peer: id,
          name: header.name,
          fileId: header.fileId,
          version: header.version,
          reason: (err as Error).message,
          ...(unsure ? { mayBeStored: true } : {}),
        },
        'copy failed',
      );
      return undefined;
    };
    return {
      write: async (chunk: Buffer): Promise<void> => {
        await Promise.all(
          writers.map(async (w) => {
            const writer = await w.writer;
            if (!writer) {
              lost.add(w.id); // never opened, or failed before
              return;
            }
            try {
              await writer.write(chunk);
            } catch (err) {
              w.writer = Promise.resolve(failed(w.id, err));
              writer.cancel();
            }
          }),
        );
      },
      end: async (extra: { sha256: string; s3ETag?: string }): Promise<number[]> => {
        const done = await Promise.all(
          writers.map(async (w) => {
            const writer = await w.writer;
            if (!writer) return undefined;
            try {
              await writer.end(extra);
              return w.id;
            } catch (err) {
              return failed(w.id, err, true);
            }
          }),
        );
        return done.filter((id): id is number => id !== undefined).sort((a, b) => a - b);
      },
      sums: async () => {
        const sums = await Promise.all(
          writers.map(async (w) => {
            // A copy that failed is left out here; its END fails and says why.
            return await (await w.writer)?.sum().catch(() => undefined);
          }),
        );
        return sums.filter((sum) => sum !== undefined);
      },
      live: () => writers.length - lost.size,
      cancel: (): void => {
        for (const w of writers) void w.writer.then((writer) => writer?.cancel());
      },
    };
  }

  async #openCopy(peerId: number, header: ReplicaHeader): Promise<UploadWriter | undefined> {
    try {
      return (await this.#connection(peerId)).openUpload({ record: header }, { sha256Later: true });
    } catch (err) {
      this.#o.logger.warn(
        { peer: peerId, name: header.name, reason: (err as Error).message },
        'copy not started',
      );
      return undefined;
    }
  }

  /**
   * After a delete here: the other live holders drop their copies now; the rest when
   * they return. Servers whose copy of the file got no answer to its END (see
   * #unsureCopies) join the tombstone's holders first: the torture's last wrong reads
   * were such a copy, stored by a server killed before it answered, left out of the
   * record and of the tombstone, which was buried by the next create of the name; the
   * server came back with the deleted file under its name.
   */
  async afterDelete(
    tombstone: Tombstone,
    holders: number[],
    options: { purge?: boolean } = {},
  ): Promise<void> {
    const ref = tombstoneRef(tombstone);
    // Called before any await, so the name's lock is asked before a later create's.
    const unsure = this.#takeUnsure(tombstone.name, tombstone.fileId).filter(
      (id) => !holders.includes(id) && id !== this.#o.serverId,
    );
    if (unsure.length > 0) {
      const kept = await this.#o.catalog.addPending(tombstone, unsure);
      this.#o.logger.info(
        {
          name: tombstone.name,
          fileId: tombstone.fileId,
          version: tombstone.version,
          unsure,
          kept,
        },
        'delete also waits for servers whose copy may be stored',
      );
    }
    await Promise.all(
      [...holders, ...unsure]
        .filter((id) => this.#o.view.member(id)?.up)
        .map(async (id) => {
          try {
            await (
              await this.#connection(id)
            ).replicaDelete({ tombstone: ref, ...(options.purge ? { purge: true } : {}) });
          } catch (err) {
            this.#o.logger.warn(
              { peer: id, name: tombstone.name, reason: (err as Error).message },
              'copy not removed yet',
            );
          }
        }),
    );
  }

  /** One round of repairs (see the module comment). Never throws; rounds never overlap. */
  async reconcile(): Promise<void> {
    if (this.#running || this.#stopped || this.#o.viewUnsure?.()) return;
    this.#running = true;
    try {
      await this.#settleTombstones();
      let budget = REPAIRS_PER_ROUND;
      for (const name of this.#nextNames()) {
        if (budget <= 0 || this.#stopped) {
          this.#dirty.add(name); // not reached this round: next one
          continue;
        }
        const record = this.#o.catalog.get(name);
        if (record && (await this.#repair(record))) {
          budget--;
          this.#dirty.add(name); // look again next round: one repair may lead to another
        }
      }
    } catch (err) {
      this.#o.logger.warn({ reason: (err as Error).message }, 'reconcile round failed');
    } finally {
      this.#running = false;
    }
  }

  /**
   * A name whose situation may have changed (a local change, news from a peer):
   * it is looked at in the next round. Rounds look only at such names, plus a
   * slice of a periodic sweep of every local file, so their cost does not grow
   * with the number of files.
   */
  markDirty(name: string): void {
    this.#dirty.add(name);
  }

  /** Every local file is looked at again (a server came or went). */
  markAllDirty(): void {
    this.#sweep = this.#o.catalog.list().map((r) => r.name);
    this.#sweptAt = Date.now();
  }

  #nextNames(): string[] {
    const names = [...this.#dirty].slice(0, NAMES_PER_ROUND);
    for (const name of names) this.#dirty.delete(name);
    if (this.#sweep.length === 0 && Date.now() - this.#sweptAt > FULL_SWEEP_INTERVAL_MS)
      this.markAllDirty();
    const room = NAMES_PER_ROUND - names.length;
    if (room > 0) names.push(...this.#sweep.splice(0, room));
    return names;
  }

  /** A peer's record of name changed: if it shows a version we lack, fetch it now. */
  #peerChanged(name: string): void {
    if (this.#stopped || this.#catchingUp.has(name) || this.#catchUpQueue.has(name)) return;
    if (!this.#catchUpSource(name)) return;
    this.#catchUpQueue.add(name);
    this.#pumpCatchUps();
  }

  #pumpCatchUps(): void {
    for (const name of this.#catchUpQueue) {
      if (this.#catchingUp.size >= CATCH_UPS_AT_ONCE || this.#stopped) return;
      this.#catchUpQueue.delete(name);
      const record = this.#o.catalog.get(name);
      if (!record || this.#catchingUp.has(name) || !this.#catchUpSource(name)) continue;
      void this.#catchUpOnce(record, this.#o.view.newestHolders(name)).finally(() => {
        this.markDirty(name); // the next round checks the outcome (and retries a failure)
        this.#pumpCatchUps();
      });
    }
  }

  /**
   * Whether our copy of name is an older version of the newest one a live peer
   * holds (same file, not deleted, no conflict): what #repair would catch up.
   */
  #catchUpSource(name: string): boolean {
    const view = this.#o.view;
    const record = this.#o.catalog.get(name);
    if (!record || view.coveringTombstone(name, record)) return false;
    const holders = view.holders(name);
    // A newer version from another history is a conflict, never a catch-up: fetching it
    // would replace bytes that the other side never saw.
    if (holders.some((h) => !sameHistory(h.record, record))) return false;
    const newest = view.newestHolders(name);
    return (
      newest.length > 0 &&
      newest[0]!.record.version > record.version &&
      newest.some((h) => h.up && h.id !== this.#o.serverId)
    );
  }

  /** Repairs one local file if it needs it; returns true if it did something. */
  async #repair(record: FileRecord): Promise<boolean> {
    const view = this.#o.view;
    // Deleted elsewhere (a tombstone covering our copy): the copy goes.
    const tombstone = view.coveringTombstone(record.name, record);
    if (tombstone) {
      await this.#o.catalog.removeCopy(tombstone);
      return true;
    }
    const holders = view.holders(record.name);
    // Another file under the name, or another history of this one (edited on both
    // sides of a partition): one of the two moves to its conflict name.
    const rival = holders.find((h) => !sameHistory(h.record, record));
    if (rival) return await this.#resolveConflict(record, rival);
    const newest = view.newestHolders(record.name);
    if (!newest.some((h) => h.id === this.#o.serverId)) {
      if (this.#catchingUp.has(record.name)) return false; // already on its way
      return await this.#catchUpOnce(record, newest);
    }
    if (view.actingPrimary(record.name) !== this.#o.serverId) return false;
    if (Date.now() - this.#startedAt < SETTLE_AFTER_START_MS) {
      this.#dirty.add(record.name); // still learning the cluster: look again later
      return false;
    }
    return await this.#keepFactor(record, newest);
  }

  /** One catch-up of a name at a time, whether a round or a peer's news started it. */
  async #catchUpOnce(record: FileRecord, newest: Holder[]): Promise<boolean> {
    this.#catchingUp.add(record.name);
    try {
      return await this.#catchUp(record, newest);
    } finally {
      this.#catchingUp.delete(record.name);
    }
  }

  /** Our copy is older than the newest version: fetch the newest from a live holder. */
  async #catchUp(record: FileRecord, newest: Holder[]): Promise<boolean> {
    const source = newest.find((h) => h.up && h.record.fileId === record.fileId);
    if (!source) return false;
    try {
      const connection = await this.#connection(source.id);
      const upload = await this.#o.catalog.directory.beginUpload();
      const sink = new Writable({
        write: (chunk: Buffer, _encoding, callback) => {
          upload.write(chunk).then(() => callback(), callback);
        },
      });
      let fetched: FileRecord;
      try {
        fetched = await connection.download(record.name, sink);
      } catch (err) {
        await upload.abort();
        throw err;
      }
      await this.#o.catalog.storeCopy(
        fetched,
        upload,
        { size: fetched.size, sha256: fetched.sha256 },
        { catchUp: true },
      );
      this.#o.logger.info(
        { name: record.name, version: fetched.version, from: source.id },
        'caught up',
      );
    } catch (err) {
      this.#o.logger.warn(
        { name: record.name, from: source.id, reason: (err as Error).message },
        'catch-up failed',
      );
    }
    return true;
  }

  /** As acting primary: make a copy where one is missing for good, remove one too many. */
  async #keepFactor(record: FileRecord, newest: Holder[]): Promise<boolean> {
    const view = this.#o.view;
    const graceMs = this.#o.healAfterMs ?? DEFAULT_HEAL_AFTER_MS;
    const counted = newest.filter(
      (h) => h.up || Date.now() - (view.member(h.id)?.downSince ?? 0) < graceMs,
    );
    const live = newest.filter((h) => h.up);
    const wanted = this.#o.replicas;
    // A copy just made may not be in that holder's records yet (they travel separately):
    // servers the record names as copies and that are up count as holders too. So do
    // ones down for less than the grace period: one may hold the file though its records
    // never showed it (a former primary killed right after the create), and a delete
    // must still wait for it (the record's copies are the delete's holders).
    const named = record.replicas.filter((id) => {
      const member = view.member(id);
      if (!member || counted.some((h) => h.id === id)) return false;
      return member.up || Date.now() - (member.downSince ?? 0) < graceMs;
    });
    if (counted.length + named.length < wanted) {
      if (Date.now() - record.modifiedAt < FRESH_FILE_MS) {
        this.#dirty.add(record.name); // its copies may still be on their way: look again soon
        return false;
      }
      const holding = new Set([...view.holders(record.name).map((h) => h.id), ...record.replicas]);
      const live = view.placementCandidates().filter((c) => !holding.has(c.id));
      // Servers that just failed to take this file go last (tried only if no other is left).
      const fresh = live.filter((c) => !this.#recentlyFailed(record.name, c.id));
      const candidates = fresh.length > 0 ? fresh : live;
      const targets = choosePlacement(candidates, wanted - counted.length - named.length);
      if (targets.length === 0) return false;
      const keep = [...counted.map((h) => h.id), ...named].filter((id) => id !== this.#o.serverId);
      const copied = await this.#copyToAll(targets, {
        ...record,
        primary: this.#o.serverId,
        replicas: [...keep, ...targets],
      });
      await this.#o.catalog.setPlacement(
        record.name,
        record.fileId,
        this.#o.serverId,
        [...keep, ...copied].sort((a, b) => a - b),
      );
      this.#o.logger.info({ name: record.name, copiedTo: copied }, 'healed');
      return true;
    }
    if (live.length > wanted) {
      // Keep this server and the lowest ids; the others' copies are surplus.
      const others = live
        .map((h) => h.id)
        .filter((id) => id !== this.#o.serverId)
        .sort((a, b) => a - b);
      const keep = others.slice(0, wanted - 1);
      const surplus = others.slice(wanted - 1);
      const ref = { name: record.name, fileId: record.fileId, version: record.version };
      await this.#o.catalog.setPlacement(record.name, record.fileId, this.#o.serverId, keep);
      for (const id of surplus) {
        try {
          await (await this.#connection(id)).replicaDelete({ tombstone: ref });
        } catch (err) {
          this.#o.logger.warn(
            { peer: id, name: record.name, reason: (err as Error).message },
            'surplus copy not removed yet',
          );
        }
      }
      return true;
    }
    const replicas = newest
      .map((h) => h.id)
      .filter((id) => id !== this.#o.serverId)
      .sort((a, b) => a - b);
    if (
      record.primary !== this.#o.serverId ||
      JSON.stringify(record.replicas) !== JSON.stringify(replicas)
    ) {
      // Placement as it is now (after a takeover, or copies found at start).
      // A named server that is up shows what it holds: kept only if its records do.
      const downNamed = named.filter((id) => !view.member(id)?.up);
      const known = [...new Set([...counted.map((h) => h.id), ...downNamed])]
        .filter((id) => id !== this.#o.serverId)
        .sort((a, b) => a - b);
      if (
        record.primary !== this.#o.serverId ||
        JSON.stringify(record.replicas) !== JSON.stringify(known)
      ) {
        await this.#o.catalog.setPlacement(record.name, record.fileId, this.#o.serverId, known);
        return true;
      }
    }
    return false;
  }

  /**
   * Two different records under one name. The same bytes are one file (the loser's
   * copy takes the winner's identity by being replaced with it); otherwise the
   * loser is kept under a conflict name and the winner keeps the name.
   */
  async #resolveConflict(mine: FileRecord, rival: Holder): Promise<boolean> {
    const outcome = conflictOutcome(mine, rival.record);
    if (outcome.kind === 'keep') return false; // the rival's holder moves its copy
    if (outcome.kind === 'drop') {
      // One file after all: drop ours and fetch theirs as a copy (same bytes, their identity).
      await this.#o.catalog.removeCopy({
        name: mine.name,
        fileId: mine.fileId,
        version: mine.version,
      });
      return true;
    }
    const target = outcome.to;
    await this.#o.catalog.moveToConflictName(mine.name, mine.fileId, target);
    this.#o.logger.warn(
      { name: mine.name, keptAs: target, winnerOn: rival.id },
      'conflict: kept the other version under the name',
    );
    return true;
  }

  /**
   * Our tombstones: a former holder that is up, synced and without the deleted file
   * has let go. One that holds a newer version instead (edited on the other side of
   * a partition: the edit beats the delete) has let go of what was deleted too.
   */
  async #settleTombstones(): Promise<void> {
    for (const tombstone of this.#o.catalog.tombstones()) {
      const seenWithout = tombstone.pending.filter((id) => {
        const member = this.#o.view.member(id);
        const held = member?.records.get(tombstone.name);
        return (
          member !== undefined &&
          member.up &&
          member.instance !== undefined &&
          (this.#o.peerSynced?.(id) ?? true) &&
          (held === undefined || !covers(tombstone, held))
        );
      });
      if (seenWithout.length > 0) await this.#o.catalog.settleTombstone(tombstone, seenWithout);
    }
  }

  #copyFailed(name: string, peerId: number): void {
    let failed = this.#failedTargets.get(name);
    if (this.#failedTargets.size > 10_000) this.#failedTargets.clear(); // a bound, not a record
    if (!failed) this.#failedTargets.set(name, (failed = new Map<number, number>()));
    failed.set(peerId, Date.now());
  }

  #recentlyFailed(name: string, peerId: number): boolean {
    const failed = this.#failedTargets.get(name);
    const at = failed?.get(peerId);
    if (at === undefined) return false;
    if (Date.now() - at < FAILED_TARGET_BACKOFF_MS) return true;
    failed!.delete(peerId);
    if (failed!.size === 0) this.#failedTargets.delete(name);
    return false;
  }

  async #copyToAll(targets: number[], record: FileRecord): Promise<number[]> {
    const results = await Promise.all(
      targets.map(async (id) => ((await this.#copyTo(id, record)) ? id : undefined)),
    );
    return results.filter((id): id is number => id !== undefined).sort((a, b) => a - b);
  }

  /** Streams our bytes of record.name to a peer, which stores them as a copy. */
  async #copyTo(peerId: number, record: FileRecord): Promise<boolean> {
    let sending = false;
    try {
      const connection = await this.#connection(peerId);
      const { handle } = await this.#o.catalog.directory.openForRead(record.name);
      try {
        const bytes = handle.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 });
        const started = performance.now();
        sending = true;
        await connection.upload({ record }, bytes, record.sha256);
        this.copyRate.record(record.size, performance.now() - started);
      } finally {
        await handle.close();
      }
      return true;
    } catch (err) {
      this.#copyFailed(record.name, peerId);
      // The upload ends with END: a link that broke may have broken after it was stored.
      const unsure = sending && this.#noteUnsure(record.name, record.fileId, peerId, err);
      this.#o.logger.warn(
        {
          peer: peerId,
          name: record.name,
          fileId: record.fileId,
          version: record.version,
          reason: (err as Error).message,
          ...(unsure ? { mayBeStored: true } : {}),
        },
        'copy failed',
      );
      return false;
    }
  }

  /**
   * A copy failed where the peer may still have stored it (no answer: the link closed
   * or timed out, rather than a refusal): remembered for a delete of that file. True
   * if so.
   */
  #noteUnsure(name: string, fileId: string, peerId: number, err: unknown): boolean {
    const answered =
      err instanceof LanfsError &&
      !(err instanceof ConnectionClosedError) &&
      !(err instanceof TimeoutError);
    if (answered) return false;
    this.#rememberUnsure(name, fileId, peerId);
    return true;
  }

  #rememberUnsure(name: string, fileId: string, peerId: number): void {
    let ofName = this.#unsureCopies.get(name);
    if (!ofName) {
      for (const oldest of this.#unsureCopies.keys()) {
        if (this.#unsureCopies.size < UNSURE_COPIES_NAMES) break;
        this.#unsureCopies.delete(oldest);
      }
      this.#unsureCopies.set(name, (ofName = new Map<number, string>()));
    }
    ofName.set(peerId, fileId);
  }

  /**
   * Servers that may hold this file though no record says so: a create replayed here
   * after they took it first and died before answering (CREATE's mayHold). Its delete
   * must wait for them like for a copy whose END got no answer.
   */
  noteMayHold(name: string, fileId: string, peerIds: number[]): void {
    for (const peerId of peerIds)
      if (peerId !== this.#o.serverId) this.#rememberUnsure(name, fileId, peerId);
  }

  /** The peers whose copy of this file may be stored unknown to us; forgotten once asked. */
  #takeUnsure(name: string, fileId: string): number[] {
    const ofName = this.#unsureCopies.get(name);
    if (!ofName) return [];
    const ids = [...ofName].filter(([, id]) => id === fileId).map(([peer]) => peer);
    for (const peer of ids) ofName.delete(peer);
    if (ofName.size === 0) this.#unsureCopies.delete(name);
    return ids;
  }

  async #connection(peerId: number): Promise<PeerLink> {
    return await this.#links.get(peerId);
  }
}
