/**
 * A lanfs server: the composition root. It opens the data directory (records and
 * bytes), builds the file service every front end calls, listens on TCP, runs the
 * handshake on every connection, hands clients to a ClientSession (which frames
 * requests for the service) and servers to the PeerMesh, serves HTTP with the
 * same service (--http-port), and announces itself on the
 * multicast group. Components start in that order and stop in reverse; the scan
 * of the data folder runs last, with the server already in its cluster.
 * Everything comes in as options, so a test (or `lanfs up`) can run several
 * servers in one process.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { createWebServer } from '../web/http-server.ts';
import { Metrics } from '../web/metrics.ts';
import { ClusterView } from '../cluster/cluster-view.ts';
import { KeptView } from '../cluster/kept-view.ts';
import { ViewFreshness } from '../cluster/view-freshness.ts';
import {
  DEFAULT_HEAL_AFTER_MS,
  DEFAULT_SCRUB_RATE_MBPS,
  DOWN_AFTER_MS,
} from '../cluster/defaults.ts';
import { PeerMesh } from '../cluster/peer-mesh.ts';
import { PeerLinks } from '../cluster/peer-link.ts';
import { Replicator } from '../cluster/replicator.ts';
import { Scrubber } from '../cluster/scrubber.ts';
import { newInstanceId, ServerDiscovery } from '../discovery/discovery.ts';
import type { GroupAddress } from '../discovery/multicast-beacon.ts';
import type { BodyOf, Member } from '../protocol/messages.ts';
import { ConfigError, LanfsError, ProtocolError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { lockDataFolder, type DataFolderLock } from '../storage/data-lock.ts';
import type { KeepPolicy } from '../storage/version-store.ts';
export { DEFAULT_DELETE_BRAKE } from '../service/delete-brake.ts';
import { LocalCatalog, type ScanReport } from '../storage/local-catalog.ts';
import { MultipartStore } from '../storage/multipart-store.ts';
import { Connection } from '../transport/connection.ts';
import { acceptHandshake, type Credentials } from '../transport/handshake.ts';
import { FileService } from '../service/file-service.ts';
import { attachEventSources } from '../events/event-sources.ts';
import { EventStream, type ClusterEvent } from '../events/event-stream.ts';
import { ClientSession } from './client-session.ts';
import { DEFAULT_SESSION_LIMITS, type SessionLimits } from './defaults.ts';
import { FaultControl } from './fault-control.ts';

import {
  DEFAULT_CLUSTER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MULTIPART_EXPIRY_MS,
  DEFAULT_PORT,
  DEFAULT_REPLICAS,
} from './defaults.ts';

export {
  DEFAULT_CLUSTER,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MULTIPART_EXPIRY_MS,
  DEFAULT_PORT,
  DEFAULT_REPLICAS,
};
/** The longest wait between two looks for expired multipart uploads. */
const MULTIPART_SWEEP_MAX_MS = 5 * 60 * 1000;
/** How long dialing another server for a forwarded request may take. */
const PEER_CONNECT_TIMEOUT_MS = 3000;
/** A status older than this measures this server's space again (the answer has the last one). */
const SPACE_REFRESH_MS = 1000;
/** How often expired edit leases are looked for (a killed editor's lease ends this soon after its TTL). */
const LEASE_SWEEP_MS = 1000;

export interface ServerOptions {
  /** The exported directory (--data). */
  dataDir: string;
  /** --id; required the first time dataDir is used. */
  serverId?: number;
  /** Address to listen on; default 0.0.0.0. */
  host?: string;
  /** TCP port; default 7070, 0 picks a free one. */
  port?: number;
  credentials: Credentials;
  /** Copies of each file, the primary included (--replicas); default 2. */
  replicas?: number;
  /** Multicast discovery (--group, --interface); absent: no multicast at all. */
  discovery?: { group: GroupAddress; interfaceAddress?: string };
  /** Servers to dial directly (--peers), as host:port. */
  peers?: string[];
  /** Silence after which a peer is marked down (--peer-timeout); default 2000 ms. */
  peerTimeoutMs?: number;
  /** How long a holder may be down before its copies are made again elsewhere (--heal-after). */
  healAfterMs?: number;
  /** Port of the HTTP side (dashboard, /api, /files, /metrics); absent: none. 0 picks one. */
  httpPort?: number;
  /** --capacity: the bytes this server offers; with every candidate's known, placement weighs bytes. */
  capacityBytes?: number;
  /** S3 multipart uploads left alone this long are removed (--multipart-expiry); default 24 h. */
  multipartExpiryMs?: number;
  /** --scrub-rate: MB/s the background scrub reads at most; 0 = no background passes. */
  scrubRateMBps?: number;
  /** What is kept of replaced versions and deleted files (--keep-versions, --versions-budget, --trash-days). */
  keep?: KeepPolicy;
  /** --delete-brake: deletes from one client within a minute past which none purges. */
  deleteBrake?: number;
  /** --allow-faults: take FAULT requests (kill, stop, slow-disk, cut, heal) from key holders. */
  allowFaults?: boolean;
  /** Limits on what connections may do (see SessionLimits) and how many there may be. */
  limits?: Partial<SessionLimits> & { maxConnections?: number };
  /** Called if the server must stop on its own (another live server has its id). */
  onFatal?: (err: LanfsError) => void;
  logger: Logger;
}

export class LanfsServer {
  readonly #options: ServerOptions;
  readonly #logger: Logger;
  readonly #instance = newInstanceId();
  readonly #startedAt = performance.now();
  /** What a client's handshake waits for after a start (#heardFromKnown). */
  #clientsWait: Promise<void> = Promise.resolve();
  /** Whether the view may be behind after a start or a stall (cluster/view-freshness.ts). */
  #freshness: ViewFreshness | undefined;
  #lock: DataFolderLock | undefined;
  #catalog: LocalCatalog | undefined;
  /** Where the listener was, kept after stop: a stopped server still says which it was. */
  #lastAddress: string | undefined;
  #view: ClusterView | undefined;
  #kept: KeptView | undefined;
  #mesh: PeerMesh | undefined;
  /** Set with --allow-faults (issue 15). */
  #faultControl: FaultControl | undefined;
  #replicator: Replicator | undefined;
  #discovery: ServerDiscovery | undefined;
  #listener: NetServer | undefined;
  #http: HttpServer | undefined;
  #peers: PeerLinks | undefined;
  #events: EventStream | undefined;
  #detachEvents: (() => void) | undefined;
  #files: FileService | undefined;
  #metrics: Metrics | undefined;
  #multipart: MultipartStore | undefined;
  #multipartSweep: NodeJS.Timeout | undefined;
  /** Drops edit leases not renewed in time, so their `lease-expired` is told at once. */
  #leaseSweep: NodeJS.Timeout | undefined;
  /** This server's space as last measured (status), and when it was asked for. */
  #space: Member['space'];
  #spaceAt = 0;
  #scrubber: Scrubber | undefined;
  readonly #connections = new Set<Connection>();
  #scan: ScanReport | undefined;

  constructor(options: ServerOptions) {
    if (!options.credentials.insecure && !options.credentials.key) {
      throw new ConfigError(
        'A server needs the cluster key: pass --key or --key-file (or set LANFS_KEY), or --insecure to run without one.',
      );
    }
    this.#options = options;
    this.#logger = options.logger;
  }

  get id(): number {
    return this.catalog.serverId;
  }

  /**
   * host:port other servers and clients reach this server at: the --host address,
   * else the --interface address, else loopback (a server listening on every
   * address is announced by the address its datagrams come from).
   */
  get address(): string {
    const address = this.#listener?.address();
    if (!address || typeof address === 'string') {
      if (this.#lastAddress !== undefined) return this.#lastAddress;
      throw new Error('server not started');
    }
    const wildcard = address.address === '0.0.0.0' || address.address === '::';
    const host = !wildcard
      ? address.address
      : (this.#options.discovery?.interfaceAddress ?? '127.0.0.1');
    this.#lastAddress = `${host}:${address.port}`;
    return this.#lastAddress;
  }

  get port(): number {
    return Number(this.address.split(':').pop());
  }

  get scanReport(): ScanReport | undefined {
    return this.#scan;
  }

  get catalog(): LocalCatalog {
    if (!this.#catalog) throw new Error('server not started');
    return this.#catalog;
  }

  /** Bytes exchanged with other servers since start (for the bench and, later, metrics). */
  get meshTrafficBytes(): number {
    return this.#mesh?.trafficBytes() ?? 0;
  }

  /** The file operations of this server, as every front end calls them. */
  get files(): FileService {
    if (!this.#files) throw new Error('The server is not started.');
    return this.#files;
  }

  /** The background scrub of this server's copies (issue 13). */
  get scrubber(): Scrubber {
    if (!this.#scrubber) throw new Error('server not started');
    return this.#scrubber;
  }

  get view(): ClusterView {
    if (!this.#view) throw new Error('server not started');
    return this.#view;
  }

  async start(): Promise<void> {
    // Before anything reads or changes the folder: a second process on it would
    // replay the same journal and claim the same server id.
    this.#lock = await lockDataFolder(this.#options.dataDir, {
      address: `${this.#options.host ?? '0.0.0.0'}:${this.#options.port ?? DEFAULT_PORT}`,
    });
    let catalog: LocalCatalog;
    try {
      // The records known at the last stop; the folder is scanned once this server
      // has joined its cluster (below).
      catalog = await LocalCatalog.openUnscanned({
        root: this.#options.dataDir,
        serverId: this.#options.serverId,
        logger: this.#logger,
        keep: this.#options.keep,
      });
    } catch (err) {
      await this.#releaseLock();
      throw err;
    }
    this.#catalog = catalog;
    let scan: ScanReport;
    try {
      await this.#listen();
      await this.#lock.setAddress(this.address);
      const view = new ClusterView(catalog, () => this.address);
      view.selfCapacity = this.#options.capacityBytes;
      this.#view = view;
      // What the others held when last heard, so their files stay listed while they are down.
      this.#kept = new KeptView({
        view,
        stateDir: catalog.directory.stateDir,
        logger: this.#logger.child({ component: 'view' }),
      });
      await this.#kept.restore();
      this.#kept.start();
      this.#metrics = new Metrics({
        files: () => catalog.size,
        copiesMissing: () => this.status().underReplicated.length,
        peersUp: () => view.liveMembers().length,
        scrub: () => this.#scrubber?.totals ?? { bytes: 0, bad: 0, repaired: 0 },
      });
      const mesh = new PeerMesh({
        serverId: catalog.serverId,
        instance: this.#instance,
        credentials: this.#options.credentials,
        address: () => this.address,
        catalog,
        view,
        logger: this.#logger.child({ component: 'mesh' }),
        downAfterMs: this.#options.peerTimeoutMs ?? DOWN_AFTER_MS,
        onDuplicateId: (err) => this.#fatal(err),
        httpPort: () => this.httpPort,
      });
      this.#mesh = mesh;
      if (this.#options.allowFaults)
        this.#faultControl = new FaultControl({
          serverId: catalog.serverId,
          disk: catalog.directory.faults,
          mesh: () => this.#mesh,
          logger: this.#logger.child({ component: 'faults' }),
        });
      this.#replicator = new Replicator({
        serverId: catalog.serverId,
        replicas: this.#options.replicas ?? DEFAULT_REPLICAS,
        catalog,
        view,
        credentials: this.#options.credentials,
        logger: this.#logger.child({ component: 'replicator' }),
        healAfterMs: this.#options.healAfterMs,
        viewUnsure: () => this.#freshness?.unsure ?? false,
        peerSynced: (peerId) => mesh.syncedWith(peerId),
      });
      const replicator = this.#replicator;
      // Deletes the HTTP side forwards to a file's acting primary travel on these links.
      this.#peers = new PeerLinks({
        selfId: catalog.serverId,
        credentials: this.#options.credentials,
        addressOf: (peerId) => view.member(peerId)?.address,
        connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
      });
      this.#freshness = new ViewFreshness({
        peersHeardSince: (since) => mesh.heardEverySince(since),
        anyMember: () => view.members().length > 0,
      });
      this.#files = new FileService({
        freshness: this.#freshness,
        catalog,
        view,
        mesh,
        replicator,
        peers: this.#peers,
        maxFileBytes: this.#options.limits?.maxFileBytes ?? DEFAULT_SESSION_LIMITS.maxFileBytes,
        status: () => this.status(),
        deleteBrake: this.#options.deleteBrake,
        onDeleteBurst: (burst) => {
          this.#logger.warn(
            { host: burst.host, deletes: burst.deletes },
            `a burst of deletes from ${burst.host}: none of them purges; undo with: ${burst.undo}`,
          );
          this.#tellEvent({
            type: 'delete-burst',
            at: Date.now(),
            serverId: catalog.serverId,
            host: burst.host,
            deletes: burst.deletes,
            undo: burst.undo,
          });
        },
        onEvent: (event) => this.#tellEvent(event),
      });
      this.#space = await this.#files.space().catch(() => undefined);
      this.#spaceAt = Date.now();
      const leases = this.#files.leases;
      this.#leaseSweep = setInterval(() => leases.sweep(), LEASE_SWEEP_MS).unref();
      this.#scrubber = new Scrubber({
        catalog,
        view,
        peers: this.#peers,
        logger: this.#logger.child({ component: 'scrub' }),
        rateMBps: this.#options.scrubRateMBps ?? DEFAULT_SCRUB_RATE_MBPS,
      });
      // One event stream for every watcher (lanfs watch, the dashboard), fed by the
      // catalog and the cluster view.
      this.#events = new EventStream({ serverId: catalog.serverId });
      this.#detachEvents = attachEventSources(this.#events, {
        replicas: this.#options.replicas ?? DEFAULT_REPLICAS,
        catalog,
        view,
      });
      view.onNameChange((name) => replicator.markDirty(name));
      view.onMemberChange((_id, up) => {
        replicator.markAllDirty();
        // A holder that went down is replaced once the grace period is over: look again then.
        if (!up)
          setTimeout(
            () => replicator.markAllDirty(),
            (this.#options.healAfterMs ?? DEFAULT_HEAL_AFTER_MS) + 100,
          ).unref();
      });
      mesh.start();
      this.#freshness.start();
      this.#clientsWait = this.#heardFromKnown(view, this.#options.peerTimeoutMs ?? DOWN_AFTER_MS);
      replicator.start();
      this.#scrubber.start();
      if (this.#options.httpPort !== undefined) await this.#startHttp(this.#options.httpPort);
      for (const peer of this.#options.peers ?? []) mesh.addSeed(peer);
      if (this.#options.discovery) await this.#startDiscovery(this.#options.discovery, mesh);
      // The start-up scan runs with this server in its cluster: the files it adopts are
      // committed in batches and each batch reaches the peers as a delta at once (a
      // folder of 100,000 new files was listed elsewhere only after the whole scan).
      // start() still returns only once the folder is scanned.
      this.#logger.info(
        { serverId: catalog.serverId, address: this.address, files: catalog.size },
        'joined the cluster; scanning the folder',
      );
      scan = await catalog.scan();
      this.#scan = scan;
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#logger.info(
      { serverId: catalog.serverId, address: this.address, ...scan },
      'server started',
    );
  }

  /**
   * An event only this server knows of (a restore, a trash move, a lease, a burst of
   * deletes): on its own stream, and told to every live peer for their watchers
   * (best effort: a peer that misses it still sees the records change).
   */
  #tellEvent(event: ClusterEvent): void {
    this.#events?.publish(event);
    const peers = this.#peers;
    const view = this.#view;
    if (!peers || !view) return;
    for (const member of view.liveMembers()) {
      if (member.id === event.serverId) continue;
      peers
        .get(member.id)
        .then(async (link) => await link.tellEvent({ event }))
        .catch((err: unknown) =>
          this.#logger.debug({ peer: member.id, err }, 'event not told to peer'),
        );
    }
  }

  /** The port of the HTTP side, once started (undefined without --http-port). */
  get httpPort(): number | undefined {
    const address = this.#http?.address();
    return address && typeof address !== 'string' ? address.port : undefined;
  }

  /** host:port of the HTTP side, as others reach it. */
  get httpAddress(): string | undefined {
    const port = this.httpPort;
    return port === undefined
      ? undefined
      : `${this.address.slice(0, this.address.lastIndexOf(':'))}:${port}`;
  }

  async #startHttp(port: number): Promise<void> {
    const view = this.view;
    const metrics = this.#metrics!;
    const multipart = new MultipartStore({
      root: join(this.catalog.directory.stateDir, 'multipart'),
      serverId: this.catalog.serverId,
    });
    this.#multipart = multipart;
    this.#startMultipartSweep(multipart);
    const http = createWebServer({
      credentials: this.#options.credentials,
      view,
      files: this.#files!,
      events: this.#events!,
      metrics,
      logger: this.#logger.child({ component: 'web' }),
      multipart,
      scrubber: this.#scrubber,
    });
    this.#http = http;
    await new Promise<void>((resolve, reject) => {
      http.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new ConfigError(`HTTP port ${port} is already in use: pick another --http-port.`)
            : err,
        ),
      );
      http.listen(port, this.#options.host ?? '0.0.0.0', () => resolve());
    });
    view.selfHttpAddress = this.httpAddress;
  }

  /**
   * Removes S3 multipart uploads left alone longer than --multipart-expiry: at start,
   * then every half expiry (at most every few minutes), never two sweeps at once.
   */
  #startMultipartSweep(multipart: MultipartStore): void {
    const expiry = this.#options.multipartExpiryMs ?? DEFAULT_MULTIPART_EXPIRY_MS;
    const every = Math.min(MULTIPART_SWEEP_MAX_MS, Math.max(1000, Math.floor(expiry / 2)));
    const sweep = (): void => {
      multipart
        .removeExpired(expiry)
        .then(
          (removed) => {
            if (removed.length > 0)
              this.#logger.info({ uploads: removed }, 'expired S3 multipart uploads removed');
          },
          (err: unknown) =>
            this.#logger.warn({ err }, 'could not remove expired multipart uploads'),
        )
        .finally(() => {
          if (this.#multipart === multipart)
            this.#multipartSweep = setTimeout(sweep, every).unref();
        });
    };
    sweep();
  }

  async stop(): Promise<void> {
    // Otherwise a stopping server would tell its watchers that every peer went down.
    this.#detachEvents?.();
    this.#multipart = undefined;
    clearTimeout(this.#multipartSweep);
    const http = this.#http;
    this.#http = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    await this.#discovery?.stop();
    this.#discovery = undefined;
    this.#scrubber?.stop();
    clearInterval(this.#leaseSweep);
    this.#replicator?.stop();
    this.#mesh?.stop();
    this.#freshness?.stop();
    this.#peers?.close();
    const listener = this.#listener;
    this.#listener = undefined;
    for (const connection of this.#connections) connection.destroy();
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
    await this.#kept?.stop();
    this.#kept = undefined;
    await this.#catalog?.close();
    await this.#releaseLock();
  }

  async #releaseLock(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  status(): BodyOf<'STATUS_RESULT'> {
    return {
      serverId: this.catalog.serverId,
      insecure: this.#options.credentials.insecure,
      replicas: this.#options.replicas ?? DEFAULT_REPLICAS,
      servers: this.#withOwnFaults(this.#withOwnSpace(this.view.servers())),
      healAfterMs: this.#options.healAfterMs ?? DEFAULT_HEAL_AFTER_MS,
      ...this.#copyRate(),
      ...this.#health(),
    };
  }

  /** This server's own entry gets the faults in force, when there are (--allow-faults). */
  #withOwnFaults(servers: Member[]): Member[] {
    const control = this.#faultControl;
    if (!control?.any) return servers;
    return servers.map((m) =>
      m.id === this.catalog.serverId ? { ...m, faults: control.inForce() } : m,
    );
  }

  /** The rate copies moved at lately, when some were measured (lanfs plan). */
  #copyRate(): { copyBytesPerSecond?: number } {
    const rate = this.#replicator?.copyRate.bytesPerSecond();
    return rate === undefined ? {} : { copyBytesPerSecond: rate };
  }

  /**
   * This server's own entry gets its bytes in files, versions and trash and the
   * disk's free space (as last measured: a statfs per status would be too many),
   * and the bursts of deletes its brake caught.
   */
  #withOwnSpace(servers: Member[]): Member[] {
    const files = this.#files;
    if (!files) return servers;
    if (Date.now() - this.#spaceAt > SPACE_REFRESH_MS) {
      this.#spaceAt = Date.now();
      files.space().then(
        (space) => (this.#space = space),
        () => undefined,
      );
    }
    const bursts = files.deleteBursts();
    return servers.map((m) =>
      m.id === this.catalog.serverId
        ? {
            ...m,
            ...(this.#space ? { space: this.#space } : {}),
            ...(bursts.length > 0 ? { deleteBursts: bursts } : {}),
          }
        : m,
    );
  }

  /** Conflicts and files below their replication factor, as `status` shows them (first 10,000). */
  #health(): { conflicts: { name: string; conflictOf: string }[]; underReplicated: string[] } {
    // Kept up to date by the view as records change: status never walks every record.
    return this.view.health(this.#options.replicas ?? DEFAULT_REPLICAS);
  }

  async #listen(): Promise<void> {
    const tls = this.#options.credentials.tls;
    const listener = tls
      ? createTlsServer(
          // With a CA, clients and peers must show a certificate it signed (mutual TLS).
          {
            cert: tls.cert,
            key: tls.key,
            ca: tls.ca,
            requestCert: tls.ca !== undefined,
            rejectUnauthorized: tls.ca !== undefined,
          },
          (socket) => this.#accept(socket),
        )
      : createServer((socket) => this.#accept(socket));
    listener.on('tlsClientError', (err: Error) =>
      this.#logger.info({ reason: err.message }, 'TLS handshake refused'),
    );
    listener.maxConnections = this.#options.limits?.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#listener = listener;
    const port = this.#options.port ?? DEFAULT_PORT;
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(port, this.#options.host ?? '0.0.0.0', () => {
          listener.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.#listener = undefined;
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new ConfigError(
          `Port ${port} is already in use: stop the other program or pick another --port.`,
        );
      }
      throw err;
    }
  }

  async #startDiscovery(
    options: { group: GroupAddress; interfaceAddress?: string },
    mesh: PeerMesh,
  ): Promise<void> {
    const listening = this.#listener!.address() as { address: string; port: number };
    const wildcard = listening.address === '0.0.0.0' || listening.address === '::';
    const discovery = new ServerDiscovery({
      group: options.group,
      interfaceAddress: options.interfaceAddress,
      cluster: this.#options.credentials.cluster,
      key: this.#options.credentials.insecure ? undefined : this.#options.credentials.key,
      serverId: this.catalog.serverId,
      instance: this.#instance,
      host: wildcard ? (options.interfaceAddress ?? '') : listening.address,
      port: listening.port,
      startedAt: this.#startedAt,
      logger: this.#logger,
    });
    discovery.onPeer((heard) => mesh.addMember(heard.serverId, heard.address));
    discovery.onDuplicate((other) =>
      this.#fatal(
        new LanfsError(
          'LANFS_ERR_DUPLICATE_ID',
          `Server id ${other.serverId} is already used by a live server at ${other.address}; give this server another --id (or another --data folder).`,
        ),
      ),
    );
    this.#discovery = discovery;
    try {
      await discovery.start();
    } catch (err) {
      throw new ConfigError(
        `Cannot join the multicast group ${options.group.address}:${options.group.port}${options.interfaceAddress ? ` on ${options.interfaceAddress}` : ''} (${(err as Error).message}); check --group and --interface.`,
      );
    }
  }

  #fatal(err: LanfsError): void {
    this.#logger.error(err.message);
    void this.stop().then(() => this.#options.onFatal?.(err));
  }

  /**
   * Resolves once this server holds the records of every server it knew before it
   * started, or after withinMs: a restarted server would otherwise answer clients
   * from its own copies alone, old versions and files the others replaced or deleted
   * while it was down (the torture run read them for a second after a kill -9).
   */
  #heardFromKnown(view: ClusterView, withinMs: number): Promise<void> {
    const known = view.members().map((m) => m.id);
    if (known.length === 0) return Promise.resolve();
    const until = Date.now() + withinMs;
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (Date.now() < until && known.some((id) => view.member(id)?.instance === undefined))
          return;
        clearInterval(timer);
        resolve();
      }, 50);
      timer.unref();
    });
  }

  #accept(socket: Socket): void {
    const connection = new Connection(socket);
    this.#connections.add(connection);
    connection.onClose(() => this.#connections.delete(connection));
    void this.#serve(connection);
  }

  /** Never throws: a failed handshake only closes its own connection. */
  async #serve(connection: Connection): Promise<void> {
    const catalog = this.catalog;
    let hello: BodyOf<'HELLO'>;
    try {
      hello = await acceptHandshake(connection, catalog.serverId, this.#options.credentials);
    } catch (err) {
      this.#logger.info(
        {
          remote: connection.remoteAddress,
          reason: err instanceof LanfsError ? err.message : String(err),
        },
        'connection refused',
      );
      return;
    }
    if (hello.role === 'server') {
      this.#mesh?.accept(connection, hello);
      return;
    }
    if (hello.role === 'replicator' && hello.serverId === undefined) {
      connection.close(new ProtocolError('A replicator must say its server id.'));
      return;
    }
    // A cut (lanfs fault cut) drops the byte-moving links with that peer too.
    if (hello.role === 'replicator' && this.#mesh?.cutPeers.includes(hello.serverId!)) {
      connection.close();
      return;
    }
    // A client waits until this server knows what the others hold (see #heardFromKnown).
    if (hello.role !== 'replicator') await this.#clientsWait;
    connection.send('WELCOME', 0, {
      serverId: catalog.serverId,
      members: this.view.servers(),
      insecure: this.#options.credentials.insecure,
    });
    new ClientSession(connection, {
      files: this.#files!,
      events: this.#events,
      peerId: hello.role === 'replicator' ? hello.serverId : undefined,
      scrubber: this.#scrubber,
      faults: this.#faultControl,
      metrics: this.#metrics,
      limits: { ...DEFAULT_SESSION_LIMITS, ...this.#options.limits },
      logger: this.#logger,
    });
  }
}
