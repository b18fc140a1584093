/**
 * The server-to-server mesh (SPEC §2.2): one authenticated TCP connection per
 * pair of servers, whoever dials first. Over it each server sends the records of
 * the files it holds: all of them when the link opens (or when asked), a delta
 * on every change, and a heartbeat every HEARTBEAT_INTERVAL_MS that carries only
 * the version of its catalog, so a quiet cluster's traffic does not grow with
 * the number of files. A peer silent for `downAfterMs` is marked down and
 * dialed again until it answers. Members are learned from discovery, --peers,
 * other members (gossip) and the list this server saved at its last run.
 */
import {
  pageDelta,
  tombstoneRef,
  type BodyOf,
  type FileRecord,
  type Message,
} from '../protocol/messages.ts';
import { LanfsError, ProtocolError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { LocalCatalog } from '../storage/local-catalog.ts';
import type { Connection } from '../transport/connection.ts';
import { dialConnection } from '../transport/dial.ts';
import { dialHandshake, type Credentials } from '../transport/handshake.ts';
import type { ClusterView } from './cluster-view.ts';
import { DOWN_AFTER_MS } from './defaults.ts';

/** How often each server tells its peers it is alive (and its catalog version). */
export const HEARTBEAT_INTERVAL_MS = 500;
/** How often a member that is down is dialed again. */
const REDIAL_INTERVAL_MS = 1000;
/** How long one dial (connect + handshake) may take. */
const DIAL_TIMEOUT_MS = 3000;
/** How long a claim may wait for answers. */
const CLAIM_TIMEOUT_MS = 3000;
/** How long a granted claim holds a name for its claimant (its record usually arrives at once). */
const CLAIM_HOLD_MS = 30_000;
/** A sync asked for and not answered within this long may be asked for again. */
const SYNC_ANSWER_MS = 5000;
/**
 * A full copy coming on a live link with no page for this long may be asked for again.
 * Longer than SYNC_ANSWER_MS: its sender stops it only when the link ends (then the next
 * link asks anew), and a copy asked again starts over, so on a loaded machine a short
 * bound would restart a slow copy again and again.
 */
const FULL_COPY_PAGE_WAIT_MS = 30_000;
/**
 * Names whose last change (catalog version) is remembered, so a peer back after a
 * cut link gets only what changed meanwhile. Past this many, the oldest are
 * forgotten and a peer that missed them gets every record (a full sync) instead.
 */
const CHANGE_LOG_NAMES = 100_000;
/** Records read and sent per step of a full copy (then cut into pages of RECORD_PAGE_BYTES). */
const FULL_COPY_STEP_NAMES = 4096;
/** The meta key under which the members seen are saved. */
const MEMBERS_META_KEY = 'members';

export interface PeerMeshOptions {
  serverId: number;
  instance: string;
  credentials: Credentials;
  /** host:port other servers and clients reach this server at. */
  address: () => string;
  catalog: LocalCatalog;
  view: ClusterView;
  logger: Logger;
  /** Silence after which a peer is down; default DOWN_AFTER_MS. */
  downAfterMs?: number;
  heartbeatIntervalMs?: number;
  /** The port of this server's HTTP side, if it runs one. */
  httpPort?: () => number | undefined;
  /** Another live server has this server's id: this one must stop. */
  onDuplicateId: (err: LanfsError) => void;
}

type OwnClaimState = 'asking' | 'won' | 'lost';

interface Link {
  peerId: number;
  /** The run of the peer (HELLO, then every PEER_* message); unknown on a link we dialed
   *  until its first message arrives. */
  instance: string | undefined;
  /** host:port the peer is reached at, as this link learned it. */
  address: string;
  connection: Connection;
  /** Which server dialed: the link dialed by the lower id wins a tie. */
  dialerId: number;
  lastHeard: number;
  /** When the peer last told its catalog version (a heartbeat), if it has on this link:
   *  only after that can a sync it calls for be known (view-freshness.ts). */
  versionHeardAt?: number;
  /** When we asked for the peer's records (a sync not answered yet), else undefined; moved
   *  on by each page of a full copy, so a long one is not asked for again while it comes. */
  syncing: number | undefined;
  /** A full copy of the peer's records is coming on this link (its last page not yet). */
  copyArriving?: boolean;
  /** Counts the full copies started on this link: a newer one stops an older one. */
  fullCopies?: number;
}

export class PeerMesh {
  readonly #o: PeerMeshOptions;
  readonly #links = new Map<number, Link>();
  /** Addresses being dialed now (one attempt at a time per address). */
  readonly #dialing = new Set<string>();
  /** Addresses to dial whose server id we do not know yet (--peers). */
  readonly #seeds = new Set<string>();
  /** Addresses found to be this server itself (a --peers list naming every server). */
  readonly #selfAddresses = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** The heartbeat interval, and when the last heartbeat tick ran (to tell a stall). */
  #tickMs = HEARTBEAT_INTERVAL_MS;
  #lastTickAt = 0;
  #redialTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Peers this server keeps no link with: a fault in force (lanfs fault cut, --allow-faults). */
  readonly #cut = new Set<number>();
  /** Version of this server's catalog as its peers see it: +1 per delta sent. */
  #version = 0;
  readonly #pendingChanges = new Set<string>();
  /** The catalog version at which each name last changed, oldest first (see CHANGE_LOG_NAMES). */
  readonly #changedAt = new Map<string, number>();
  /** Changes at or below this version may be forgotten: a sync from before it is a full one. */
  #changeLogFloor = 0;
  /** Syncs answered since start: with every record, and with only what changed. */
  readonly syncsSent = { full: 0, delta: 0 };
  #flushScheduled = false;
  readonly #downAfterMs: number;
  /** Names other servers have claimed for a create in flight, until their record arrives. */
  readonly #claimedBy = new Map<string, { claimant: number; expires: number }>();
  /** Names this server claimed for its own create: asking, won (granted by all), or lost. */
  readonly #ownClaims = new Map<string, { state: OwnClaimState; at: number }>();
  readonly #claimReplies = new Map<number, (peerId: number, granted: boolean) => void>();
  #nextClaimId = 1;
  /** Peers whose links this server dropped after its own stall, and when: still up in the
   *  view until a new link comes or downAfterMs passes (see #tick). */
  readonly #relinking = new Map<number, number>();
  /** Bytes sent and received on links that have closed (see trafficBytes). */
  #closedTrafficBytes = 0;

  constructor(options: PeerMeshOptions) {
    this.#o = options;
    this.#downAfterMs = options.downAfterMs ?? DOWN_AFTER_MS;
    options.catalog.onChange((name) => this.#localChange(name));
  }

  start(): void {
    for (const member of this.#loadMembers()) this.addMember(member.id, member.address, false);
    this.#tickMs = this.#o.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.#lastTickAt = Date.now();
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#redialTimer = setInterval(() => this.#redial(), REDIAL_INTERVAL_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#redialTimer);
    for (const link of this.#links.values()) link.connection.destroy();
    this.#links.clear();
  }

  /** A server to dial whose id is not known yet (--peers). */
  addSeed(address: string): void {
    this.#seeds.add(address);
    this.#dial(address);
  }

  /**
   * A server heard of: remember it and connect if not connected. `firstHand` is
   * true when the address comes from the server itself (its announcement or its
   * handshake); an address passed on by others (gossip, the saved list) never
   * replaces a known one.
   */
  addMember(id: number, address: string, firstHand = true): void {
    if (id === this.#o.serverId || this.#stopped) return;
    const known = this.#o.view.member(id);
    if ((!known || firstHand) && this.#o.view.upsertMember(id, address)) this.#membersChanged();
    if (!this.#links.has(id)) this.#dial(this.#o.view.member(id)!.address);
  }

  /**
   * Asks every live server whether this server may create name (SPEC: create-if-
   * absent across the cluster). Resolves true when all granted. Of two servers
   * claiming one name at once, the lower id wins on both sides. A server that
   * goes down meanwhile is not waited for, and one that has not answered within
   * CLAIM_TIMEOUT_MS is taken as cut off: by the partition rule both sides write,
   * and a name created on both is settled by the conflict rule with no bytes lost
   * (refusing would tell the user another server creates a name nobody creates).
   */
  async claim(name: string): Promise<boolean> {
    // A change not sent yet (the delete of the name's last file) must reach the peers
    // before the claim: arriving after it, it would end the claim (see PEER_RECORDS).
    if (this.#pendingChanges.size > 0) this.#flushChanges();
    const links = [...this.#links.values()];
    const own = { state: 'asking' as OwnClaimState, at: Date.now() };
    this.#ownClaims.set(name, own);
    if (links.length === 0) {
      own.state = 'won';
      return true;
    }
    const claimId = this.#nextClaimId++;
    return await new Promise<boolean>((resolve) => {
      const waiting = new Set(links.map((l) => l.peerId));
      /** The link each peer was asked on: a link replaced meanwhile (both sides dialed
       *  at once) took the question with it, so it is asked again on the new one. */
      const askedOn = new Map(links.map((l) => [l.peerId, l]));
      let granted = true;
      const finish = (): void => {
        clearTimeout(timer);
        clearInterval(watch);
        this.#claimReplies.delete(claimId);
        // Lost meanwhile: a lower id claimed the name while we asked, and we granted it.
        const won = granted && own.state === 'asking';
        if (this.#ownClaims.get(name) === own) {
          if (won) own.state = 'won';
          else this.#ownClaims.delete(name);
        }
        resolve(won);
      };
      this.#claimReplies.set(claimId, (peerId, ok) => {
        granted &&= ok;
        waiting.delete(peerId);
        if (waiting.size === 0 || !granted) finish();
      });
      // A peer that goes down while we wait no longer counts.
      const watch = setInterval(() => {
        for (const id of waiting) {
          const link = this.#links.get(id);
          if (!link) waiting.delete(id);
          else if (link !== askedOn.get(id)) {
            askedOn.set(id, link);
            link.connection.send('CLAIM', 0, { claimId, name });
          }
        }
        if (waiting.size === 0) finish();
      }, 100);
      // Only a refusal refuses; silence past the timeout is a cut-off server (see above).
      const timer = setTimeout(finish, CLAIM_TIMEOUT_MS);
      for (const link of links) link.connection.send('CLAIM', 0, { claimId, name });
    });
  }

  /** The create that claimed name did not happen: tell the others to forget the claim. */
  releaseClaim(name: string): void {
    this.#ownClaims.delete(name);
    for (const link of this.#links.values()) link.connection.send('CLAIM_RELEASE', 0, { name });
  }

  /** Whether another server has claimed name for a create in flight. */
  claimedElsewhere(name: string): boolean {
    const claim = this.#claimedBy.get(name);
    if (!claim) return false;
    // A claim ends when it expires, when the claimant's record arrives, or when the
    // claimant goes down (its create died with it; a client may be replaying it here).
    const claimant = this.#o.view.member(claim.claimant);
    if (Date.now() > claim.expires || !claimant?.up || claimant.records.has(name)) {
      this.#claimedBy.delete(name);
      return false;
    }
    return true;
  }

  #grant(name: string, claimant: number): boolean {
    if (this.#o.view.has(name)) return false;
    const own = this.#ownClaims.get(name);
    if (own && Date.now() - own.at > CLAIM_HOLD_MS) this.#ownClaims.delete(name);
    // Ours already: every server granted it and the create goes on here.
    else if (own?.state === 'won') return false;
    // Two servers creating one name at once: every server grants the lower id and
    // refuses the higher, so exactly one of them gets every grant; granting, we lose ours.
    if (this.#o.catalog.isReserved(name) && claimant > this.#o.serverId) return false;
    if (own?.state === 'asking') own.state = 'lost';
    const other = this.#claimedBy.get(name);
    if (other && other.claimant < claimant && this.claimedElsewhere(name)) return false;
    this.#claimedBy.set(name, { claimant, expires: Date.now() + CLAIM_HOLD_MS });
    return true;
  }

  /**
   * Whether every member told its catalog version after `since` (ms epoch) on a live
   * link (a new link's first message is not that: its members list comes first), with no
   * sync of its records outstanding: the view is as current as the peers (see
   * view-freshness.ts). A member down is not heard, so this is false while one is.
   */
  heardEverySince(since: number): boolean {
    for (const member of this.#o.view.members()) {
      const link = this.#links.get(member.id);
      const heard = link?.versionHeardAt;
      if (!link || heard === undefined || heard <= since || this.#syncing(link)) return false;
    }
    return true;
  }

  /**
   * Whether what the view holds of this peer is of its current run and complete: its
   * link is up, it told its version, no sync is outstanding, and the records are of the
   * instance its link speaks for. Right after a peer restarts, the view still holds the
   * records of its earlier run (which may lack a file it holds now) until its full copy
   * has come: a tombstone must not take it for a holder without the file meanwhile.
   */
  syncedWith(peerId: number): boolean {
    const link = this.#links.get(peerId);
    const member = this.#o.view.member(peerId);
    return (
      link !== undefined &&
      member !== undefined &&
      link.versionHeardAt !== undefined &&
      !this.#syncing(link) &&
      link.instance !== undefined &&
      member.instance === link.instance &&
      !member.copying
    );
  }

  /** Bytes sent and received between this server and its peers since it started. */
  trafficBytes(): number {
    let bytes = this.#closedTrafficBytes;
    for (const link of this.#links.values())
      bytes += link.connection.socket.bytesRead + link.connection.socket.bytesWritten;
    return bytes;
  }

  /**
   * A server dialed us and passed the handshake: refuse it if it claims our id
   * (or that of another live server), else answer WELCOME and attach the link.
   */
  accept(connection: Connection, hello: BodyOf<'HELLO'>): void {
    const peerId = hello.serverId;
    if (peerId === undefined || hello.instance === undefined || hello.address === undefined) {
      connection.close(
        new ProtocolError('A server must say its id, instance and address in HELLO.'),
      );
      return;
    }
    if (hello.instance === this.#o.instance) {
      // This server dialed itself (its own address among its peers or members): not
      // a duplicate. WELCOME tells the dialing side so; it then drops the address.
      connection.send('WELCOME', 0, {
        serverId: this.#o.serverId,
        members: [],
        insecure: this.#o.credentials.insecure,
      });
      return;
    }
    if (peerId === this.#o.serverId) {
      connection.close(
        new LanfsError(
          'LANFS_ERR_DUPLICATE_ID',
          `Server id ${peerId} is already used by the server at ${this.#o.address()}; give this server another --id.`,
        ),
      );
      return;
    }
    const existing = this.#links.get(peerId);
    // Only a known, different run is another server: a link we dialed has no instance
    // until the peer's first message, and that peer dialing us meanwhile is a tie
    // (#attach keeps one link), not a duplicate.
    if (
      existing?.instance !== undefined &&
      existing.instance !== hello.instance &&
      Date.now() - existing.lastHeard < this.#downAfterMs
    ) {
      connection.close(
        new LanfsError(
          'LANFS_ERR_DUPLICATE_ID',
          `Server id ${peerId} is already used by a live server at ${existing.address}; give this server another --id.`,
        ),
      );
      return;
    }
    connection.send('WELCOME', 0, {
      serverId: this.#o.serverId,
      members: this.#o.view.servers(),
      insecure: this.#o.credentials.insecure,
    });
    // Known, but not dialed back: this link is the one.
    if (this.#o.view.upsertMember(peerId, hello.address)) this.#membersChanged();
    this.#attach({
      peerId,
      instance: hello.instance,
      address: hello.address,
      connection,
      dialerId: peerId,
      lastHeard: Date.now(),
      syncing: undefined,
    });
  }

  #dial(address: string): void {
    if (this.#stopped || this.#dialing.has(address) || this.#selfAddresses.has(address)) return;
    this.#dialing.add(address);
    void this.#dialOnce(address).finally(() => this.#dialing.delete(address));
  }

  async #dialOnce(address: string): Promise<void> {
    const match = /^(.+):(\d+)$/.exec(address);
    if (!match) return;
    let connection: Connection | undefined;
    try {
      connection = await dialConnection(
        match[1]!,
        Number(match[2]),
        DIAL_TIMEOUT_MS,
        this.#o.credentials.tls,
      );
      const welcome = await dialHandshake(connection, 'server', this.#o.credentials, {
        serverId: this.#o.serverId,
        instance: this.#o.instance,
        address: this.#o.address(),
        timeoutMs: DIAL_TIMEOUT_MS,
      });
      if (this.#stopped || welcome.serverId === this.#o.serverId) {
        connection.destroy();
        if (welcome.serverId === this.#o.serverId) {
          this.#selfAddresses.add(address);
          this.#seeds.delete(address);
          this.#o.logger.info({ address }, 'that address is this server; not dialing it');
        }
        return;
      }
      this.#seeds.delete(address);
      this.addMember(welcome.serverId, address);
      this.#attach({
        peerId: welcome.serverId,
        instance: undefined,
        address,
        connection,
        dialerId: this.#o.serverId,
        lastHeard: Date.now(),
        syncing: undefined,
      });
    } catch (err) {
      connection?.destroy();
      if (err instanceof LanfsError && err.code === 'LANFS_ERR_DUPLICATE_ID')
        this.#o.onDuplicateId(err);
      else this.#o.logger.debug({ address, reason: (err as Error).message }, 'peer dial failed');
    }
  }

  /**
   * A fault (lanfs fault cut): drops the links with these peers and refuses new ones
   * until heal(), so both sides see each other down, as across a cut cable.
   */
  cut(peerIds: number[]): void {
    for (const id of peerIds) {
      this.#cut.add(id);
      this.#links.get(id)?.connection.close();
    }
  }

  /** Removes every cut; the peers are dialed again within REDIAL_INTERVAL_MS. */
  heal(): void {
    this.#cut.clear();
  }

  /** The peers cut off (lanfs fault cut), lowest first. */
  get cutPeers(): number[] {
    return [...this.#cut].sort((a, b) => a - b);
  }

  #attach(link: Link): void {
    if (this.#cut.has(link.peerId)) {
      link.connection.close();
      return;
    }
    const existing = this.#links.get(link.peerId);
    if (existing) {
      // Both dialed at once: keep the link dialed by the lower id, on both sides alike.
      const lower = Math.min(this.#o.serverId, link.peerId);
      if (existing.dialerId === lower && link.dialerId !== lower) {
        link.connection.close();
        return;
      }
      this.#links.delete(link.peerId);
      existing.connection.close();
      this.#o.logger.debug({ peer: link.peerId }, 'link replaced: both sides dialed at once');
    }
    this.#links.set(link.peerId, link);
    this.#relinking.delete(link.peerId);
    // Up before its first message is handled (setHandler hands over at once what came
    // with the handshake): its records must land on a live member, which a catch-up reads.
    this.#o.view.setUp(link.peerId, true);
    link.connection.setHandler((message) => this.#receive(link, message));
    link.connection.onClose(() => this.#detach(link));
    // A link replacing another (both sides dialed at once) is the same peer, still connected.
    if (!existing)
      this.#o.logger.info(
        { peer: link.peerId, address: this.#o.view.member(link.peerId)?.address },
        'peer connected',
      );
    this.#sendMembers(link);
    // No records yet: the heartbeat carries our catalog version, and a peer that does
    // not hold it asks (PEER_SYNC_REQUEST), naming what it holds. A peer back after a
    // short cut then gets only what changed meanwhile, not every record again.
    this.#sendHeartbeat(link);
  }

  #detach(link: Link): void {
    if (this.#links.get(link.peerId) !== link) return;
    this.#closedTrafficBytes +=
      link.connection.socket.bytesRead + link.connection.socket.bytesWritten;
    this.#links.delete(link.peerId);
    this.#o.view.setUp(link.peerId, false);
    if (!this.#stopped) this.#o.logger.warn({ peer: link.peerId }, 'peer down');
  }

  #receive(link: Link, message: Message): void {
    link.lastHeard = Date.now();
    switch (message.type) {
      case 'PEER_HEARTBEAT': {
        link.instance = message.body.instance;
        const member = this.#o.view.member(link.peerId);
        if (member) {
          member.httpPort = message.body.httpPort;
          member.capacity = message.body.capacity;
        }
        if (
          !this.#syncing(link) &&
          !this.#o.view.isCurrent(link.peerId, message.body.instance, message.body.version)
        )
          this.#requestSync(link);
        link.versionHeardAt = Date.now();
        return;
      }
      case 'PEER_RECORDS': {
        // A link replaced meanwhile (both sides dialed at once): what it still brings is
        // the end of a copy its sender stopped, or a delta the new link's sync covers.
        if (this.#links.get(link.peerId) !== link) return;
        link.instance = message.body.instance;
        const applied = this.#o.view.applyRecords(link.peerId, message.body);
        // A claimant's record (or its removal) ends its claim: let it go now, not when next
        // asked, or a delete that follows at once would leave the name claimed until it expires.
        const settled = [...message.body.records.map((r) => r.name), ...message.body.removed];
        for (const name of settled)
          if (this.#claimedBy.get(name)?.claimant === link.peerId) this.#claimedBy.delete(name);
        // A full copy, or a delta that applied, brings us up to the version it names.
        if (message.body.done && (message.body.full || applied)) {
          link.syncing = undefined;
          if (message.body.full) link.copyArriving = false;
        }
        // A full copy still coming (a million records take a while): not asked for again.
        else if (message.body.full) {
          link.syncing = Date.now();
          link.copyArriving = true;
        }
        if (!applied && !this.#syncing(link)) this.#requestSync(link);
        return;
      }
      case 'PEER_MEMBERS':
        for (const member of message.body.members) this.addMember(member.id, member.address, false);
        return;
      case 'PEER_SYNC_REQUEST':
        if (!this.#sendChangesSince(link, message.body.since))
          this.#sendAllRecords(link).catch((err: unknown) =>
            this.#o.logger.debug(
              { peer: link.peerId, reason: (err as Error).message },
              'full copy stopped',
            ),
          );
        return;
      case 'CLAIM':
        link.connection.send('CLAIM_REPLY', 0, {
          claimId: message.body.claimId,
          granted: this.#grant(message.body.name, link.peerId),
        });
        return;
      case 'CLAIM_REPLY':
        this.#claimReplies.get(message.body.claimId)?.(link.peerId, message.body.granted);
        return;
      case 'CLAIM_RELEASE':
        if (this.#claimedBy.get(message.body.name)?.claimant === link.peerId)
          this.#claimedBy.delete(message.body.name);
        return;
      case 'ERROR':
        if (message.streamId === 0) link.connection.destroy();
        return;
      default:
        link.connection.close(new ProtocolError(`${message.type} is not valid between servers.`));
    }
  }

  #syncing(link: Link): boolean {
    const waitMs = link.copyArriving ? FULL_COPY_PAGE_WAIT_MS : SYNC_ANSWER_MS;
    return link.syncing !== undefined && Date.now() - link.syncing < waitMs;
  }

  /**
   * Asks for the peer's records, naming the version of them we hold, if we hold all of
   * it: part of a full copy (cut off with its link) names none, so the answer is a whole
   * copy again, not the changes since a version whose records we never got (issue 16).
   */
  #requestSync(link: Link): void {
    link.syncing = Date.now();
    link.copyArriving = false;
    link.connection.send('PEER_SYNC_REQUEST', 0, {
      since: this.#o.view.heldVersion(link.peerId),
    });
  }

  /**
   * Answers a sync with only what changed since the version the peer holds: one delta
   * from there to now. False when that cannot be told (another run of ours, or changes
   * older than the change log): the caller sends every record.
   */
  #sendChangesSince(link: Link, since: { instance: string; version: number } | undefined): boolean {
    if (
      since === undefined ||
      since.instance !== this.#o.instance ||
      since.version < this.#changeLogFloor ||
      since.version > this.#version
    )
      return false;
    const names = new Set<string>();
    for (const [name, version] of this.#changedAt) if (version > since.version) names.add(name);
    this.syncsSent.delta++;
    this.#sendDelta([link], names, since.version, this.#version);
    return true;
  }

  /**
   * Sends every record, FULL_COPY_STEP_NAMES at a time, each step when the link has
   * drained the last: a million records never sit in this process's memory as one
   * array or in the socket's buffer at once. Names are taken when the copy starts and
   * each record when its page is made; a change meanwhile goes as a delta between the
   * pages (each page names the version it was read at), so the copy ends current. A
   * newer full copy on the link, or the link's end, stops this one.
   */
  async #sendAllRecords(link: Link): Promise<void> {
    this.syncsSent.full++;
    const run = (link.fullCopies = (link.fullCopies ?? 0) + 1);
    const catalog = this.#o.catalog;
    const names = [...catalog.names()];
    // Rare by design (a new peer, a restart, a long absence): worth a line when it happens.
    this.#o.logger.info(
      { peer: link.peerId, records: names.length },
      'sent every record (full sync)',
    );
    for (let from = 0; from === 0 || from < names.length; from += FULL_COPY_STEP_NAMES) {
      if (from > 0) {
        await link.connection.drain();
        if (this.#links.get(link.peerId) !== link || link.fullCopies !== run) {
          this.#o.logger.debug(
            { peer: link.peerId, sent: from, replaced: this.#links.get(link.peerId) !== link },
            'full copy stopped before its end',
          );
          return;
        }
      }
      const records: FileRecord[] = [];
      for (const name of names.slice(from, from + FULL_COPY_STEP_NAMES)) {
        const record = catalog.get(name);
        if (record) records.push(record);
      }
      const last = from + FULL_COPY_STEP_NAMES >= names.length;
      // Every tombstone goes with the first step, after its records, in as many pages as
      // they take (a page over the frame's limit would stop this server).
      const pages = pageDelta(
        records,
        [],
        () => [],
        from === 0 ? catalog.tombstones().map(tombstoneRef) : [],
      );
      pages.forEach((page, i) => {
        link.connection.send('PEER_RECORDS', 0, {
          instance: this.#o.instance,
          version: this.#version,
          baseVersion: this.#version,
          full: true,
          reset: from === 0 && i === 0,
          done: last && i === pages.length - 1,
          ...page,
        });
      });
    }
  }

  #sendMembers(link: Link): void {
    const members = [
      { id: this.#o.serverId, address: this.#o.address() },
      ...this.#o.view.members().map((m) => ({ id: m.id, address: m.address })),
    ];
    link.connection.send('PEER_MEMBERS', 0, { members });
  }

  #sendHeartbeat(link: Link): void {
    link.connection.send('PEER_HEARTBEAT', 0, {
      instance: this.#o.instance,
      version: this.#version,
      files: this.#o.catalog.size,
      httpPort: this.#o.httpPort?.(),
      capacity: this.#o.view.selfCapacity,
    });
  }

  /** Local changes are gathered for one turn of the event loop and sent as one delta. */
  #localChange(name: string): void {
    // The create we claimed the name for is done: the record refuses others from now on.
    if (this.#ownClaims.get(name)?.state === 'won' && this.#o.catalog.has(name))
      this.#ownClaims.delete(name);
    this.#pendingChanges.add(name);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flushChanges());
  }

  #flushChanges(): void {
    this.#flushScheduled = false;
    const names = new Set(this.#pendingChanges);
    this.#pendingChanges.clear();
    const baseVersion = this.#version;
    this.#version++;
    for (const name of names) {
      this.#changedAt.delete(name); // re-inserted last: the map stays in version order
      this.#changedAt.set(name, this.#version);
    }
    for (const [name, version] of this.#changedAt) {
      if (this.#changedAt.size <= CHANGE_LOG_NAMES) break;
      this.#changedAt.delete(name);
      this.#changeLogFloor = version;
    }
    this.#sendDelta([...this.#links.values()], names, baseVersion, this.#version);
  }

  /** The records of names as they are now, as one delta from baseVersion to version. */
  #sendDelta(links: Link[], names: Set<string>, baseVersion: number, version: number): void {
    const records: FileRecord[] = [];
    const removed: string[] = [];
    for (const name of names) {
      const record = this.#o.catalog.get(name);
      if (record) records.push(record);
      else removed.push(name);
    }
    // Every tombstone of each name sent, also of a name that holds a file again: the
    // receiver replaces the name's tombstones with these. A delta sent only those of
    // names left without a file, so a server that had been frozen never learned that
    // the file it still held was deleted while the name got a new one, and served it
    // (seed 14's torture: the conflict rule let its older file keep the name).
    // A delta is small in practice; a huge one (a mass change) goes as several pages,
    // the last carrying the new version.
    const pages = pageDelta(records, removed, (name) =>
      this.#o.catalog.tombstonesOf(name).map(tombstoneRef),
    );
    for (const link of links) {
      pages.forEach((page, i) => {
        const last = i === pages.length - 1;
        link.connection.send('PEER_RECORDS', 0, {
          instance: this.#o.instance,
          version: last ? version : baseVersion,
          baseVersion,
          full: false,
          reset: false,
          done: last,
          ...page,
          everyTombstone: true,
        });
      });
    }
  }

  #tick(): void {
    const now = Date.now();
    const stalledMs = now - this.#lastTickAt;
    this.#lastTickAt = now;
    if (stalledMs > this.#downAfterMs) {
      // This server stood still longer than its peers wait (SIGSTOP, a long pause): they
      // have dropped it. Drop our ends too and dial again: fresh links, fresh syncs. The
      // members stay up in the view meanwhile (marked down only if no new link comes
      // within downAfterMs): marking each down and up again has every record of each
      // looked at anew (events, placement, the kept view), and on a loaded machine that
      // work was the next stall: issue 16's 20-server join of 100,000 records collapsed
      // so, servers relinking over and over until none answered a handshake.
      this.#o.logger.warn({ stalledMs }, 'this server stood still; linking to its peers again');
      for (const link of [...this.#links.values()]) {
        this.#relinking.set(link.peerId, now);
        this.#closedTrafficBytes +=
          link.connection.socket.bytesRead + link.connection.socket.bytesWritten;
        this.#links.delete(link.peerId);
        link.connection.destroy();
      }
      this.#redial();
      return;
    }
    // Members relinked after a stall that no new link has reached in time: down now.
    for (const [peerId, since] of this.#relinking) {
      if (now - since <= this.#downAfterMs) continue;
      this.#relinking.delete(peerId);
      if (!this.#links.has(peerId)) {
        this.#o.view.setUp(peerId, false);
        this.#o.logger.warn({ peer: peerId }, 'peer down');
      }
    }
    // Stood still briefly (a long task, a major GC of a large view): what the peers sent
    // meanwhile waits unread behind this timer, so none is blamed this time.
    const stoodStill = stalledMs > 2 * this.#tickMs;
    for (const link of [...this.#links.values()]) {
      if (!stoodStill && now - link.lastHeard > this.#downAfterMs) {
        // Silent (crashed, frozen or cut off): down, and dialed again until it answers.
        this.#o.logger.warn({ peer: link.peerId, silentMs: now - link.lastHeard }, 'peer silent');
        link.connection.destroy();
        this.#detach(link);
        continue;
      }
      this.#sendHeartbeat(link);
    }
  }

  #redial(): void {
    for (const member of this.#o.view.members())
      if (!this.#links.has(member.id)) this.#dial(member.address);
    for (const seed of this.#seeds) this.#dial(seed);
  }

  #membersChanged(): void {
    const members = this.#o.view.members().map((m) => ({ id: m.id, address: m.address }));
    this.#o.catalog.setMeta(MEMBERS_META_KEY, JSON.stringify(members));
    for (const link of this.#links.values()) this.#sendMembers(link);
  }

  #loadMembers(): { id: number; address: string }[] {
    try {
      const saved = JSON.parse(this.#o.catalog.getMeta(MEMBERS_META_KEY) ?? '[]') as {
        id: number;
        address: string;
      }[];
      return Array.isArray(saved)
        ? saved.filter((m) => Number.isInteger(m.id) && typeof m.address === 'string')
        : [];
    } catch {
      return [];
    }
  }
}
