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
 * File bytes move on "replicator" connections (one per peer, reused), apart
 * from the mesh link, so a large copy never delays heartbeats.
 */
import { Writable } from 'node:stream';
import { ServerConnection } from '../client/server-connection.ts';
import type { FileRecord, TombstoneRef } from '../protocol/messages.ts';
import type { Logger } from '../shared/logger.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';
import type { Tombstone } from '../storage/state-store.ts';
import type { Credentials } from '../transport/handshake.ts';
import { covers, type ClusterView, type Holder } from './cluster-view.ts';
import { choosePlacement } from './placement.ts';

/** How often the reconcile round runs. */
export const RECONCILE_INTERVAL_MS = 1000;
/** How long a holder may be down before its copies are made again elsewhere. */
export const DEFAULT_HEAL_AFTER_MS = 3 * 60 * 1000;
/** After start, how long to learn the cluster before healing (so nothing is copied in vain). */
const SETTLE_AFTER_START_MS = 3000;
/** Files repaired per round at most, so a returning or departing server causes no storm. */
const REPAIRS_PER_ROUND = 32;
const CONNECT_TIMEOUT_MS = 3000;

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
}

/** The name the loser of a conflict is kept under: derived from its bytes, the same on every server. */
export function conflictName(name: string, loser: FileRecord): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  const tag = `.conflict-${loser.sha256.slice(0, 8)}`;
  return dot > slash + 1 ? `${name.slice(0, dot)}${tag}${name.slice(dot)}` : `${name}${tag}`;
}

/**
 * Of two different records under one name, the one that keeps the name: another
 * lineage (fileId) loses to the file whose primary has the lower id (then the lower
 * fileId); two versions of one file with different bytes (edited on both sides of
 * a partition) keep the newer, and at equal versions the lower sha256.
 */
export function conflictWinner(a: FileRecord, b: FileRecord): FileRecord {
  if (a.fileId === b.fileId) {
    if (a.version !== b.version) return a.version > b.version ? a : b;
    return a.sha256 <= b.sha256 ? a : b;
  }
  if (a.primary !== b.primary) return a.primary < b.primary ? a : b;
  return a.fileId < b.fileId ? a : b;
}

export class Replicator {
  readonly #o: ReplicatorOptions;
  readonly #connections = new Map<number, Promise<ServerConnection>>();
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;

  constructor(options: ReplicatorOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer = setInterval(() => void this.reconcile(), RECONCILE_INTERVAL_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const pending of this.#connections.values())
      void pending.then((c) => c.close()).catch(() => undefined);
    this.#connections.clear();
  }

  /** After a create here: copies to the servers placement picks; returns the record with its copies. */
  async afterCreate(record: FileRecord): Promise<FileRecord> {
    const counts = this.#o.view.fileCounts();
    const candidates = this.#o.view
      .liveMembers()
      .map((m) => ({ id: m.id, files: counts.get(m.id) ?? 0 }));
    const targets = choosePlacement(candidates, this.#o.replicas - 1);
    if (targets.length === 0) return record;
    const planned = { ...record, replicas: targets };
    const copied = await this.#copyToAll(targets, planned);
    await this.#o.catalog.setPlacement(record.name, record.fileId, this.#o.serverId, copied);
    return { ...record, replicas: copied };
  }

  /** After an edit here: sends the new version to the other live holders of the file. */
  async afterEdit(record: FileRecord): Promise<FileRecord> {
    const others = this.#o.view
      .holders(record.name)
      .filter((h) => h.id !== this.#o.serverId && h.up && h.record.fileId === record.fileId)
      .map((h) => h.id);
    await this.#copyToAll(others, record);
    // Holders that missed it (down, or failed) catch up by themselves when they see the new version.
    return record;
  }

  /** After a delete here: the other live holders drop their copies now; the rest when they return. */
  async afterDelete(tombstone: Tombstone, holders: number[]): Promise<void> {
    const ref = { name: tombstone.name, fileId: tombstone.fileId, version: tombstone.version };
    await Promise.all(
      holders
        .filter((id) => this.#o.view.member(id)?.up)
        .map(async (id) => {
          try {
            await (await this.#connection(id)).replicaDelete({ tombstone: ref });
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
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      await this.#removeDeletedCopies();
      await this.#settleTombstones();
      let budget = REPAIRS_PER_ROUND;
      for (const record of this.#o.catalog.list()) {
        if (budget <= 0 || this.#stopped) break;
        if (await this.#repair(record)) budget--;
      }
    } catch (err) {
      this.#o.logger.warn({ reason: (err as Error).message }, 'reconcile round failed');
    } finally {
      this.#running = false;
    }
  }

  /** Repairs one local file if it needs it; returns true if it did something. */
  async #repair(record: FileRecord): Promise<boolean> {
    const view = this.#o.view;
    const holders = view.holders(record.name);
    const rival = holders.find(
      (h) =>
        h.record.fileId !== record.fileId ||
        (h.record.version === record.version && h.record.sha256 !== record.sha256),
    );
    if (rival) return await this.#resolveConflict(record, rival);
    const newest = view.newestHolders(record.name);
    if (!newest.some((h) => h.id === this.#o.serverId)) return await this.#catchUp(record, newest);
    if (view.actingPrimary(record.name) !== this.#o.serverId) return false;
    if (Date.now() - this.#startedAt < SETTLE_AFTER_START_MS) return false;
    return await this.#keepFactor(record, newest);
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
        fetched = await connection.download(record.name, sink, {});
      } catch (err) {
        await upload.abort();
        throw err;
      }
      await this.#o.catalog.storeCopy(fetched, upload, {
        size: fetched.size,
        sha256: fetched.sha256,
      });
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
    if (counted.length < wanted) {
      const holding = new Set(view.holders(record.name).map((h) => h.id));
      const counts = view.fileCounts();
      const candidates = view
        .liveMembers()
        .filter((m) => !holding.has(m.id))
        .map((m) => ({ id: m.id, files: counts.get(m.id) ?? 0 }));
      const targets = choosePlacement(candidates, wanted - counted.length);
      if (targets.length === 0) return false;
      const keep = counted.map((h) => h.id).filter((id) => id !== this.#o.serverId);
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
      const known = counted
        .map((h) => h.id)
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
    const winner = conflictWinner(mine, rival.record);
    if (winner === mine) return false; // the rival's holder moves its copy
    if (winner.sha256 === mine.sha256 && winner.fileId !== mine.fileId) {
      // One file after all: drop ours and fetch theirs as a copy (same bytes, their identity).
      await this.#o.catalog.removeCopy({ ...mine, deletedAt: Date.now(), pending: [] });
      return true;
    }
    const target = conflictName(mine.name, mine);
    await this.#o.catalog.moveToConflictName(mine.name, mine.fileId, target);
    this.#o.logger.warn(
      { name: mine.name, keptAs: target, winnerOn: rival.id },
      'conflict: kept the other version under the name',
    );
    return true;
  }

  /** Copies of deleted files: a tombstone from any server covering our copy removes it. */
  async #removeDeletedCopies(): Promise<void> {
    for (const record of this.#o.catalog.list()) {
      const tombstone = this.#o.view.tombstone(record.name);
      if (
        tombstone &&
        covers(tombstone, record) &&
        !this.#o.catalog.tombstones().some((t) => t.name === record.name)
      ) {
        await this.#o.catalog.removeCopy({ ...tombstone, deletedAt: Date.now(), pending: [] });
      }
    }
  }

  /** Our tombstones: a former holder that is up, synced and without the file has let go. */
  async #settleTombstones(): Promise<void> {
    for (const tombstone of this.#o.catalog.tombstones()) {
      const seenWithout = tombstone.pending.filter((id) => {
        const member = this.#o.view.member(id);
        return (
          member !== undefined &&
          member.up &&
          member.instance !== undefined &&
          !member.records.has(tombstone.name)
        );
      });
      if (seenWithout.length > 0)
        await this.#o.catalog.settleTombstone(tombstone.name, seenWithout);
    }
  }

  async #copyToAll(targets: number[], record: FileRecord): Promise<number[]> {
    const results = await Promise.all(
      targets.map(async (id) => ((await this.#copyTo(id, record)) ? id : undefined)),
    );
    return results.filter((id): id is number => id !== undefined).sort((a, b) => a - b);
  }

  /** Streams our bytes of record.name to a peer, which stores them as a copy. */
  async #copyTo(peerId: number, record: FileRecord): Promise<boolean> {
    try {
      const connection = await this.#connection(peerId);
      const { handle } = await this.#o.catalog.directory.openForRead(record.name);
      try {
        const bytes = handle.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 });
        await connection.upload('REPLICA_PUT', { record }, bytes, { size: record.size });
      } finally {
        await handle.close();
      }
      return true;
    } catch (err) {
      this.#o.logger.warn(
        { peer: peerId, name: record.name, reason: (err as Error).message },
        'copy failed',
      );
      return false;
    }
  }

  async #connection(peerId: number): Promise<ServerConnection> {
    const existing = this.#connections.get(peerId);
    if (existing) {
      const connection = await existing.catch(() => undefined);
      if (connection && !connection.closed) return connection;
    }
    const address = this.#o.view.member(peerId)?.address;
    if (!address) throw new Error(`server ${peerId} is unknown`);
    const pending = ServerConnection.open(address, this.#o.credentials, CONNECT_TIMEOUT_MS, {
      role: 'replicator',
      serverId: this.#o.serverId,
    });
    pending.catch(() => undefined);
    this.#connections.set(peerId, pending);
    try {
      return await pending;
    } catch (err) {
      this.#connections.delete(peerId);
      throw err;
    }
  }
}

export type { TombstoneRef };
