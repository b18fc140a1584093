/**
 * What this server knows of the whole cluster (the single system image): every
 * member with its address, up or down, the records of the files it holds and the
 * deletes it has not seen settled (tombstones), next to this server's own
 * catalog. Fed by the peer mesh; read by the server to list files, show status,
 * and decide where a request goes: any holder of the newest version serves a
 * download; the acting primary takes edits and deletes.
 */
import {
  covers,
  type Coverable,
  type FileRecord,
  type Member,
  type TombstoneRef,
} from '../protocol/messages.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';
import type { PlacementCandidate } from './placement.ts';
import type { SavedMember } from '../storage/peer-records-snapshot.ts';
import { SortedNames } from './sorted-names.ts';

export interface MemberState {
  id: number;
  address: string;
  up: boolean;
  /** When it was last marked down (Date.now()), for the healing grace period. */
  downSince: number | undefined;
  /** The run of the member whose records we hold, and up to which version of its catalog. */
  instance: string | undefined;
  version: number;
  /**
   * A full copy of its records began (reset) and its last page has not come: what we
   * hold is only part of them, whatever the version says. A copy cut off midway (its
   * link dropped or replaced) must then be asked for again in full, not taken as current.
   */
  copying: boolean;
  records: Map<string, FileRecord>;
  /** By name: one per deleted file of that name the member has not seen settled. */
  tombstones: Map<string, TombstoneRef[]>;
  /** Port of its HTTP side, if it runs one (learned from its heartbeats). */
  httpPort?: number;
  /** The bytes it offers to placement (its --capacity, from its heartbeats); absent: not given. */
  capacity?: number;
  /** Bytes in its records, kept as records are applied and removed (placement weighs it). */
  bytes: number;
}

/** A server holding a file, with its record of it. */
export interface Holder {
  id: number;
  up: boolean;
  record: FileRecord;
}

/** Where a request about a name should go, as seen from this server. */
export type Location =
  | { kind: 'local' }
  | { kind: 'remote'; serverId: number; address: string }
  | { kind: 'down'; holders: number[] }
  | { kind: 'none' };

export interface RecordsPage {
  instance: string;
  version: number;
  baseVersion: number;
  full: boolean;
  reset: boolean;
  /** The last page of the copy or delta; absent counts as the last (a page alone). */
  done?: boolean;
  records: FileRecord[];
  removed: string[];
  tombstones: TombstoneRef[];
  /** A delta naming every tombstone of each of its names (PEER_RECORDS everyTombstone). */
  everyTombstone?: boolean;
}

/** One page of a listing: the files in name order, and whether names may follow. */
export interface ListedPage {
  records: FileRecord[];
  more: boolean;
}

/** What `status` reports of the files' health (the first HEALTH_NAMES_MAX of each). */
export interface FilesHealth {
  conflicts: { name: string; conflictOf: string }[];
  underReplicated: string[];
}

/** How many names of each kind `status` carries (its message bounds them so). */
export const HEALTH_NAMES_MAX = 10_000;

/** Names looked up per step of a listing (each may turn out deleted and be skipped). */
const LIST_STEP_NAMES = 1024;

export class ClusterView {
  readonly selfId: number;
  readonly #local: LocalCatalog;
  readonly #selfAddress: () => string;
  /** host:port of this server's HTTP side, if any. */
  selfHttpAddress: string | undefined;
  /** The bytes this server offers to placement (--capacity), if given. */
  selfCapacity: number | undefined;
  readonly #members = new Map<number, MemberState>();
  /** The same members as an array: looked through for every holder of every listed name. */
  #memberList: MemberState[] = [];
  readonly #nameListeners: ((name: string) => void)[] = [];
  readonly #memberListeners: ((id: number, up: boolean) => void)[] = [];
  /** Every name held here or by any member, in order: a listing page is a seek. */
  readonly #names: SortedNames;
  /** Whether the local catalog holds name (true when it cannot tell: then get() says). */
  readonly #holdsHere: (name: string) => boolean;
  /**
   * Files' health kept between status calls (see health()): the names below `wanted`
   * copies and those listed as a conflict's loser, and what changed since: names, and
   * members whose every name must be looked at again (went up or down, or a full copy).
   */
  #healthWanted: number | undefined;
  readonly #below = new Set<string>();
  readonly #conflicts = new Map<string, string>();
  readonly #dirtyNames = new Set<string>();
  readonly #dirtyMembers = new Set<number>();

  constructor(local: LocalCatalog, selfAddress: () => string) {
    this.selfId = local.serverId;
    this.#local = local;
    this.#selfAddress = selfAddress;
    // A test's in-memory catalog may offer neither names() nor onChange: then its list.
    const catalog = local as Partial<Pick<LocalCatalog, 'names' | 'onChange'>>;
    this.#names = SortedNames.from(
      catalog.names ? catalog.names() : local.list().map((r) => r.name),
    );
    catalog.onChange?.call(local, (name) => this.#localChanged(name));
    this.#holdsHere = 'has' in local ? (name) => local.has(name) : () => true;
  }

  /** Names held here or by any member (deleted ones not yet forgotten included). */
  get nameCount(): number {
    return this.#names.size;
  }

  #localChanged(name: string): void {
    if (this.#local.has(name)) this.#names.add(name);
    else this.#forgetIfUnheld(name);
    this.#healthChanged(name);
  }

  /** Drops name from the index once neither this server nor any member holds it. */
  #forgetIfUnheld(name: string): void {
    if (this.#local.get(name)) return;
    for (const member of this.#members.values()) if (member.records.has(name)) return;
    this.#names.delete(name);
  }

  #healthChanged(name: string): void {
    if (this.#healthWanted !== undefined) this.#dirtyNames.add(name);
  }

  /** Called with every name whose records or tombstones from a peer changed. */
  onNameChange(listener: (name: string) => void): void {
    this.#nameListeners.push(listener);
  }

  /** Called when a member goes up or down. */
  onMemberChange(listener: (id: number, up: boolean) => void): void {
    this.#memberListeners.push(listener);
  }

  #nameChanged(name: string): void {
    for (const listener of this.#nameListeners) listener(name);
  }

  member(id: number): MemberState | undefined {
    return this.#members.get(id);
  }

  members(): MemberState[] {
    return [...this.#members.values()];
  }

  liveMembers(): MemberState[] {
    return this.members().filter((m) => m.up);
  }

  /** Learns of a member (or its new address); returns true if anything changed. */
  upsertMember(id: number, address: string): boolean {
    const known = this.#members.get(id);
    if (known) {
      if (known.address === address) return false;
      known.address = address;
      return true;
    }
    this.#members.set(id, {
      id,
      address,
      up: false,
      downSince: Date.now(),
      instance: undefined,
      version: 0,
      copying: false,
      records: new Map(),
      tombstones: new Map(),
      bytes: 0,
    });
    this.#memberList = [...this.#members.values()];
    return true;
  }

  /**
   * Puts back what this server knew of a member at its last run (before any link):
   * its records and tombstones then, the member down since it was last seen and not
   * seen in this run (no instance, so nothing counts it as synced). Its files are
   * listed as unavailable until it is back; its fresh full list then replaces these.
   */
  restoreMember(saved: SavedMember): void {
    if (saved.id === this.selfId || this.#members.has(saved.id)) return;
    this.#members.set(saved.id, {
      id: saved.id,
      address: saved.address,
      up: false,
      downSince: saved.lastSeen,
      instance: undefined,
      version: 0,
      copying: false,
      records: new Map(saved.records.map((r) => [r.name, r])),
      tombstones: new Map(),
      bytes: 0,
    });
    this.#memberList = [...this.#members.values()];
    for (const tombstone of saved.tombstones)
      keepTombstoneRef(this.#members.get(saved.id)!, tombstone);
    const restored = this.#members.get(saved.id)!;
    for (const record of restored.records.values()) restored.bytes += record.size;
    for (const record of saved.records) this.#names.add(record.name);
    if (this.#healthWanted !== undefined) this.#dirtyMembers.add(saved.id);
  }

  setUp(id: number, up: boolean): void {
    const member = this.#members.get(id);
    if (!member || member.up === up) return;
    member.up = up;
    member.downSince = up ? undefined : Date.now();
    if (this.#healthWanted !== undefined) this.#dirtyMembers.add(id);
    for (const listener of this.#memberListeners) listener(id, up);
  }

  /**
   * Applies a page of a member's records. Returns false when it does not follow
   * from what we hold (a delta we cannot apply): the caller asks for a full copy.
   */
  applyRecords(id: number, page: RecordsPage): boolean {
    const member = this.#members.get(id);
    if (!member) return false;
    let dropped: Map<string, FileRecord> | undefined;
    if (page.full) {
      if (page.reset) {
        for (const name of member.records.keys()) this.#nameChanged(name);
        for (const name of member.tombstones.keys()) this.#nameChanged(name);
        dropped = member.records;
        member.records = new Map();
        member.tombstones = new Map();
        member.bytes = 0;
      }
    } else if (member.instance !== page.instance || member.version !== page.baseVersion) {
      return false;
    }
    for (const record of page.records) {
      member.bytes += record.size - (member.records.get(record.name)?.size ?? 0);
      member.records.set(record.name, record);
      this.#names.add(record.name);
      // A delta that carries every tombstone of each name it names: they replace what
      // we kept of it (an older sender's named only those of the names it removed).
      if (!page.full && page.everyTombstone) member.tombstones.delete(record.name);
    }
    for (const name of page.removed) {
      member.bytes -= member.records.get(name)?.size ?? 0;
      member.records.delete(name);
      if (!page.full) member.tombstones.delete(name);
      this.#forgetIfUnheld(name);
    }
    // Names only the old list had: gone from the index unless another holds them.
    if (dropped) for (const name of dropped.keys()) this.#forgetIfUnheld(name);
    for (const tombstone of page.tombstones) keepTombstoneRef(member, tombstone);
    for (const record of page.records) this.#nameChanged(record.name);
    for (const name of page.removed) this.#nameChanged(name);
    for (const tombstone of page.tombstones) this.#nameChanged(tombstone.name);
    if (this.#healthWanted !== undefined) {
      // A full copy looks at the member's every name at the next status, not each page's.
      if (page.full) this.#dirtyMembers.add(id);
      else for (const record of page.records) this.#dirtyNames.add(record.name);
      for (const name of page.removed) this.#dirtyNames.add(name);
      for (const tombstone of page.tombstones) this.#dirtyNames.add(tombstone.name);
      if (dropped) for (const name of dropped.keys()) this.#dirtyNames.add(name);
    }
    member.instance = page.instance;
    member.version = page.version;
    if (page.full) member.copying = page.done === false;
    return true;
  }

  /**
   * Whether we hold the member's catalog at this (instance, version): all of it, not a
   * full copy that has not ended (the version came with its first page).
   */
  isCurrent(id: number, instance: string, version: number): boolean {
    const member = this.#members.get(id);
    return (
      member !== undefined &&
      !member.copying &&
      member.instance === instance &&
      member.version === version
    );
  }

  /**
   * The (instance, version) of the member's records we hold, for a sync to ask only what
   * changed since; undefined when we hold none of its run, or only part of a full copy.
   */
  heldVersion(id: number): { instance: string; version: number } | undefined {
    const member = this.#members.get(id);
    if (!member || member.instance === undefined || member.copying) return undefined;
    return { instance: member.instance, version: member.version };
  }

  /** The newest tombstone any server keeps for name (this one included). */
  tombstone(name: string): TombstoneRef | undefined {
    let newest: TombstoneRef | undefined;
    for (const t of this.#tombstonesOf(name)) if (!newest || t.version > newest.version) newest = t;
    return newest;
  }

  /**
   * A tombstone of any server that covers record (the same file, at its version or
   * later), the newest if several. Not only the newest tombstone of the name: the
   * delete of a later file of that name must not uncover a stray copy of an earlier
   * one (found by the torture run), so every server keeps one per deleted file.
   */
  coveringTombstone(name: string, record: Coverable): TombstoneRef | undefined {
    // Plain loops, not #tombstonesOf: a listing asks this of every holder of every name.
    let found: TombstoneRef | undefined;
    for (const t of this.#local.tombstonesOf(name))
      if (covers(t, record) && (!found || t.version > found.version)) found = t;
    for (const member of this.#memberList) {
      const ofName = member.tombstones.get(name);
      if (ofName)
        for (const t of ofName)
          if (covers(t, record) && (!found || t.version > found.version)) found = t;
    }
    return found;
  }

  /** Every tombstone of name: this server's, then each member's. */
  *#tombstonesOf(name: string): Generator<TombstoneRef> {
    yield* this.#local.tombstonesOf(name);
    for (const member of this.#members.values()) yield* member.tombstones.get(name) ?? [];
  }

  /** Every server holding name (that no tombstone covers), this one first. */
  holders(name: string): Holder[] {
    const holders: Holder[] = [];
    // has() first: get() copies the record, and most names of a large cluster are elsewhere.
    const local = this.#holdsHere(name) ? this.#local.get(name) : undefined;
    if (local && !this.coveringTombstone(name, local))
      holders.push({ id: this.selfId, up: true, record: local });
    for (const member of this.#memberList) {
      const record = member.records.get(name);
      if (record && !this.coveringTombstone(name, record))
        holders.push({ id: member.id, up: member.up, record });
    }
    return holders;
  }

  /**
   * The holders of the newest version of the file this server would serve under
   * name (the local file's lineage if it holds one, else the winner among others).
   */
  newestHolders(name: string): Holder[] {
    const holders = this.holders(name);
    if (holders.length <= 1) return holders;
    const fileId = holders[0]!.record.fileId;
    const same = holders.filter((h) => h.record.fileId === fileId);
    const newest = Math.max(...same.map((h) => h.record.version));
    return same.filter((h) => h.record.version === newest);
  }

  /**
   * The server that takes edits and deletes of name: the record's primary if it
   * is up and holds the newest version, else the lowest id among live holders of
   * the newest version. Every server computes the same from the same records.
   */
  actingPrimary(name: string): number | undefined {
    return actingPrimaryOf(this.newestHolders(name));
  }

  /** newestHolders and actingPrimary of name from one walk over the members. */
  served(name: string): { newest: Holder[]; acting: number | undefined } {
    const newest = this.newestHolders(name);
    return { newest, acting: actingPrimaryOf(newest) };
  }

  /** Whether any server, up or down, holds a file of this name. */
  has(name: string): boolean {
    return this.holders(name).length > 0;
  }

  /**
   * Whether any file's name starts with prefix: a folder exists while something is
   * in it. Stops at the first hit, and builds no listing (WebDAV and S3 ask this on
   * every PUT); a prefix nothing starts with still costs one pass over the names.
   */
  hasNameUnder(prefix: string): boolean {
    let after: string | undefined;
    for (;;) {
      const names = this.#names.page(LIST_STEP_NAMES, after, prefix);
      // A name held here counts as it always did, even while its delete goes round.
      for (const name of names) if (this.#local.get(name) || this.has(name)) return true;
      if (names.length < LIST_STEP_NAMES) return false;
      after = names[names.length - 1];
    }
  }

  /** Where a download of name goes: here if this server has the newest version, else a live holder of it. */
  locateForRead(name: string): Location {
    const newest = this.newestHolders(name);
    if (newest.length === 0) return { kind: 'none' };
    if (newest.some((h) => h.id === this.selfId)) return { kind: 'local' };
    const live = newest.find((h) => h.up);
    if (live) return { kind: 'remote', serverId: live.id, address: this.#addressOf(live.id) };
    return { kind: 'down', holders: newest.map((h) => h.id) };
  }

  /** Where an edit or delete of name goes: the acting primary. */
  locateForWrite(name: string): Location {
    const holders = this.newestHolders(name);
    if (holders.length === 0) return { kind: 'none' };
    const primary = this.actingPrimary(name);
    if (primary === undefined) return { kind: 'down', holders: holders.map((h) => h.id) };
    if (primary === this.selfId) return { kind: 'local' };
    return { kind: 'remote', serverId: primary, address: this.#addressOf(primary) };
  }

  /** Every file of every server, one entry per name, in name order (see listPage). */
  list(): FileRecord[] {
    return this.listPage(Infinity).records;
  }

  /**
   * Up to `limit` files after the name `after` (from the first when absent) whose
   * names start with `prefix`, in name order, one entry per name with where it is
   * and whether it can be read now. A seek in the sorted index: a page costs what
   * it lists, however many names come before it. `more` is true when a name
   * follows the page (it may turn out deleted).
   */
  listPage(limit: number, after?: string, prefix = ''): ListedPage {
    const { entries, more } = this.#page(limit, after, prefix, (name) => this.listed(name));
    return { records: entries, more };
  }

  /**
   * As listPage, the names alone (a script's listing of many files): the same
   * names in the same order, and no record built for any of them.
   */
  listNamesPage(limit: number, after?: string, prefix = ''): { names: string[]; more: boolean } {
    const { entries, more } = this.#page(limit, after, prefix, (name) =>
      this.#soleHolder(name) || this.has(name) ? name : undefined,
    );
    return { names: entries, more };
  }

  /** The walk of the sorted index both listings take: `entry` says what a name lists as, if held. */
  #page<T>(
    limit: number,
    after: string | undefined,
    prefix: string,
    entry: (name: string) => T | undefined,
  ): { entries: T[]; more: boolean } {
    const entries: T[] = [];
    let cursor = after;
    for (;;) {
      const step = Math.min(LIST_STEP_NAMES, limit);
      const names = this.#names.page(step, cursor, prefix);
      for (const name of names) {
        const found = entry(name);
        if (found !== undefined) entries.push(found);
        cursor = name;
        if (entries.length >= limit)
          return { entries, more: this.#names.page(1, cursor, prefix).length > 0 };
      }
      if (names.length < step) return { entries, more: false };
    }
  }

  /** The one entry a listing shows for name: the acting primary's record, every holder seen. */
  listed(name: string): FileRecord | undefined {
    // Most files of a large listing: one member holds it and no tombstone names it.
    const sole = this.#soleHolder(name);
    if (sole) return listedOne(sole.id, sole.up, sole.records.get(name)!);
    const newest = this.newestHolders(name);
    if (newest.length === 0) return undefined;
    if (newest.length === 1) return listedOne(newest[0]!.id, newest[0]!.up, newest[0]!.record);
    const primary = actingPrimaryOf(newest) ?? newest[0]!.record.primary;
    const record = (newest.find((h) => h.id === primary) ?? newest[0]!).record;
    // Holders seen, and those the primary's saved placement names (a server restarted
    // alone still knows where its copies are).
    const replicas = newest.map((h) => h.id);
    for (const id of record.replicas) if (!replicas.includes(id)) replicas.push(id);
    return {
      ...record,
      primary,
      replicas: replicas.filter((id) => id !== primary).sort((a, b) => a - b),
      available: newest.some((h) => h.up),
    };
  }

  /**
   * The member holding name when it is the only holder (not this server) and no
   * tombstone of any server names it: then it is the file's one holder, as holders()
   * would find, without the arrays. Undefined for anything else (holders() decides).
   */
  #soleHolder(name: string): MemberState | undefined {
    if (this.#holdsHere(name)) return undefined;
    let sole: MemberState | undefined;
    for (const member of this.#memberList) {
      if (member.tombstones.has(name)) return undefined;
      if (member.records.has(name)) {
        if (sole) return undefined;
        sole = member;
      }
    }
    if (!sole || this.#local.tombstonesOf(name).length > 0) return undefined;
    return sole;
  }

  /**
   * The files below `wanted` live copies and those kept under a conflict name, as
   * `status` shows them (the first HEALTH_NAMES_MAX of each). Kept between calls: a
   * call looks again only at names that changed since the last and at the names of
   * members that went up or down or sent a full copy, not at every record. The
   * first call (or one with another `wanted`) looks at every name once.
   */
  health(wanted: number): FilesHealth {
    if (this.#healthWanted !== wanted) {
      this.#healthWanted = wanted;
      this.#below.clear();
      this.#conflicts.clear();
      this.#dirtyNames.clear();
      this.#dirtyMembers.clear();
      for (const name of this.#names) this.#checkHealth(name, wanted);
    }
    for (const id of this.#dirtyMembers) {
      const member = this.#members.get(id);
      if (member) for (const name of member.records.keys()) this.#checkHealth(name, wanted);
    }
    this.#dirtyMembers.clear();
    for (const name of this.#dirtyNames) this.#checkHealth(name, wanted);
    this.#dirtyNames.clear();
    const underReplicated: string[] = [];
    for (const name of this.#below) {
      if (underReplicated.length >= HEALTH_NAMES_MAX) break;
      underReplicated.push(name);
    }
    const conflicts: FilesHealth['conflicts'] = [];
    for (const [name, conflictOf] of this.#conflicts) {
      if (conflicts.length >= HEALTH_NAMES_MAX) break;
      conflicts.push({ name, conflictOf });
    }
    return { conflicts, underReplicated };
  }

  #checkHealth(name: string, wanted: number): void {
    const newest = this.newestHolders(name);
    let live = 0;
    for (const h of newest) if (h.up) live++;
    if (newest.length > 0 && live < wanted) this.#below.add(name);
    else this.#below.delete(name);
    const conflictOf = newest.length > 0 ? this.listed(name)?.conflictOf : undefined;
    if (conflictOf) this.#conflicts.set(name, conflictOf);
    else this.#conflicts.delete(name);
  }

  /** Every server with its address, up/down and the number of files it holds. */
  servers(): Member[] {
    const servers: Member[] = [
      {
        id: this.selfId,
        address: this.#selfAddress(),
        up: true,
        files: this.#local.size,
        httpAddress: this.selfHttpAddress,
        ...(this.selfCapacity === undefined ? {} : { capacity: this.selfCapacity }),
      },
    ];
    for (const member of this.#members.values()) {
      servers.push({
        id: member.id,
        address: member.address,
        up: member.up,
        files: member.records.size,
        httpAddress: this.httpAddressOf(member.id),
        ...(member.capacity === undefined ? {} : { capacity: member.capacity }),
        ...(member.up || member.downSince === undefined
          ? {}
          : { downForMs: Math.max(0, Date.now() - member.downSince) }),
      });
    }
    return servers.sort((a, b) => a.id - b.id);
  }

  /**
   * What placement weighs, for each live member: the files and bytes it holds (kept as
   * its records change, no walk) and its --capacity if it gave one. This server is not
   * among them: it places the copies as the primary (or the acting one) and holds the
   * file already, so it is never a candidate, and its bytes would need a size kept per
   * local name (the catalog keeps no total).
   */
  placementCandidates(): PlacementCandidate[] {
    const candidates: PlacementCandidate[] = [];
    for (const member of this.#memberList) {
      if (!member.up) continue;
      candidates.push({
        id: member.id,
        files: member.records.size,
        bytes: member.bytes,
        ...(member.capacity === undefined ? {} : { capacity: member.capacity }),
      });
    }
    return candidates;
  }

  /** host:port of a server's HTTP side (this one included), if it runs one. */
  httpAddressOf(id: number): string | undefined {
    if (id === this.selfId) return this.selfHttpAddress;
    const member = this.#members.get(id);
    if (!member?.httpPort) return undefined;
    return `${member.address.slice(0, member.address.lastIndexOf(':'))}:${member.httpPort}`;
  }

  #addressOf(id: number): string {
    return id === this.selfId ? this.#selfAddress() : (this.#members.get(id)?.address ?? '');
  }
}

/**
 * The listing entry of a file one server holds: it is the acting primary while it is
 * up (else the record's primary is named), its copies are those the record names.
 */
function listedOne(id: number, up: boolean, record: FileRecord): FileRecord {
  const primary = up ? id : record.primary;
  const replicas = id === primary ? [] : [id];
  for (const r of record.replicas) if (r !== primary && !replicas.includes(r)) replicas.push(r);
  if (replicas.length > 1) replicas.sort((a, b) => a - b);
  return { ...record, primary, replicas, available: up };
}

/**
 * The server that takes edits and deletes, of the holders of a name's newest version:
 * the record's primary if it is up and among them, else the lowest id among the live.
 */
function actingPrimaryOf(newest: Holder[]): number | undefined {
  const live = newest.filter((h) => h.up);
  if (live.length === 0) return undefined;
  const named = live[0]!.record.primary;
  if (live.some((h) => h.id === named)) return named;
  return Math.min(...live.map((h) => h.id));
}

/** Puts a member's tombstone among those of its name (replacing the same file's). */
function keepTombstoneRef(member: MemberState, tombstone: TombstoneRef): void {
  const ofName = (member.tombstones.get(tombstone.name) ?? []).filter(
    (t) => t.fileId !== tombstone.fileId,
  );
  ofName.push(tombstone);
  member.tombstones.set(tombstone.name, ofName);
}
