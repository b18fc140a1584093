/**
 * The lanfs client library: finds a server (the addresses given, or by asking
 * the multicast group), authenticates, and runs the operations of SPEC §2.4.
 * A request for a file the server does not hold is redirected to one that
 * does, and the client follows without troubling its caller. Files are
 * streamed both ways and checked against their sha256. Nothing here knows about
 * terminals or exit codes (that is cli/):
 *
 *   const client = await LanfsClient.connect({ servers: ['10.0.0.5:7070'], credentials });
 *   const files = await client.list();
 */
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { findServers } from '../discovery/discovery.ts';
import type { GroupAddress } from '../discovery/multicast-beacon.ts';
import { validateName } from '../protocol/file-name.ts';
import { mergeOwnEntries } from '../protocol/listing.ts';
import type {
  BodyOf,
  FileRecord,
  KeptEntryWire,
  LanfsEvent,
  Lease,
  Member,
} from '../protocol/messages.ts';
import {
  ConnectionClosedError,
  LanfsError,
  NoServerError,
  ProtocolError,
  UsageError,
} from '../shared/errors.ts';
import type { Credentials } from '../transport/handshake.ts';
import {
  newDownloadProgress,
  newRequestId,
  Redirect,
  ServerConnection,
  type DownloadOptions,
  type ListedPage,
  type UploadOptions,
  type UploadSource,
} from './server-connection.ts';

export {
  type ListedPage,
  parseAddress,
  type DownloadOptions,
  type UploadOptions,
  type UploadSource,
} from './server-connection.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

/** Which files a listing gives (all when empty): see LanfsClient.listPages. */
export interface ListOptions {
  limit?: number;
  after?: string;
  prefix?: string;
  /** Pages carry `names` and no records (see listNames). */
  namesOnly?: boolean;
}

/** Files asked for per LIST request of a listing (see listPages): about 8 MB of records. */
const LIST_REQUEST_RECORDS = 32_768;

/** Redirects followed for one request before giving up (a loop means views disagree). */
const MAX_REDIRECTS = 3;
/** Servers tried in turn for one request when its server dies. */
const MAX_FAILOVERS = 3;
/** How long a failover may look for a live server before saying there is none. */
const FAILOVER_DEADLINE_MS = 10_000;

export interface ClientOptions {
  /** Servers to try, in order, as host:port. When absent, the group is asked. */
  servers?: string[];
  /** Where to ask for servers when none are given. */
  discovery?: { group: GroupAddress; interfaceAddress?: string };
  credentials: Credentials;
  /** How long to wait for one server to accept and answer the handshake. */
  connectTimeoutMs?: number;
  /** A line for people on what happens (connected, redirected): the CLI's verbose mode. */
  onEvent?: (line: string) => void;
  /** A line for people when the client moved to another server because its own died. */
  onFailover?: (line: string) => void;
  /**
   * What to do when no server answers, ending that sentence; by default it names
   * "lanfs server", "lanfs up" and --server (lanfs up's shell names its own commands).
   */
  noServerHint?: string;
}

const NO_SERVER_HINT =
  'start one with "lanfs server" or "lanfs up", or point --server / LANFS_SERVER at one.';

export class LanfsClient {
  readonly #options: ClientOptions;
  #home: ServerConnection;
  /** Every server address known (given, discovered, learned from the servers), best first. */
  #known: string[];
  /** Connections to the other servers redirects led to, by address. */
  readonly #others = new Map<string, Promise<ServerConnection>>();
  #failingOver: Promise<ServerConnection> | undefined;

  private constructor(options: ClientOptions, home: ServerConnection, known: string[]) {
    this.#options = options;
    this.#home = home;
    this.#known = known;
    this.#learn(home);
  }

  /** Connects to the first server that answers and authenticates. */
  static async connect(options: ClientOptions): Promise<LanfsClient> {
    const servers = options.servers ?? (await discover(options));
    const home = await connectToFirst(servers, options);
    options.onEvent?.(`Connected to server ${home.welcome.serverId} at ${home.address}.`);
    return new LanfsClient(options, home, servers);
  }

  /** The address of the server this client is connected to. */
  get address(): string {
    return this.#home.address;
  }

  /** The id of the server this client is connected to. */
  get serverId(): number {
    return this.#home.welcome.serverId;
  }

  /** The servers this client learned of when it connected. */
  get members(): Member[] {
    return this.#home.welcome.members;
  }

  /** Whether the cluster runs without a key. */
  get insecure(): boolean {
    return this.#home.welcome.insecure;
  }

  /**
   * Every file in the system (the single system image), sorted by name, in one
   * array; `options` as listPages. A large cluster's listing is better read with
   * listPages, a page at a time.
   */
  async list(options: ListOptions = {}): Promise<FileRecord[]> {
    const records: FileRecord[] = [];
    for await (const page of this.listPages(options))
      for (const record of page.records) records.push(record);
    return records;
  }

  /**
   * The files in name order, streamed a page at a time: at most `limit`, those after
   * the name `after`, those whose names start with `prefix`. Asked LIST_REQUEST_RECORDS
   * at a time, each part after the last name received, so what waits here for the
   * caller stays bounded (pausing the socket instead would also hold up the caller's
   * other requests on it). When the server dies mid-listing, the listing goes on
   * from the last name received on another server. Only the last page says `more`:
   * the limit cut off names that follow.
   */
  async *listPages(options: ListOptions = {}): AsyncGenerator<ListedPage> {
    let after = options.after;
    let left = options.limit ?? Infinity;
    for (let failovers = 0; left > 0;) {
      const server = this.#home;
      const ask = Math.min(left, LIST_REQUEST_RECORDS);
      let got = 0;
      let more = false;
      try {
        const body = {
          limit: ask,
          ...(after === undefined ? {} : { after }),
          ...(options.prefix ? { prefix: options.prefix } : {}),
          ...(options.namesOnly ? { namesOnly: true } : {}),
        };
        for await (const page of server.listPages(body)) {
          const count = page.names?.length ?? page.records.length;
          const last = page.names ? page.names[count - 1] : page.records[count - 1]?.name;
          if (last !== undefined) after = last;
          got += count;
          left -= count;
          more = page.more;
          // A part cut off by LIST_REQUEST_RECORDS goes on: that is no `more` for the caller.
          yield { ...page, more: page.more && left <= 0 };
        }
      } catch (err) {
        if (!isConnectionLoss(err) || failovers >= MAX_FAILOVERS) throw err;
        failovers++;
        await this.#failOver(server, err as Error);
        continue;
      }
      if (!more || got < ask) return;
    }
  }

  /**
   * The names of the files, in name order, a page at a time (as listPages, which
   * options also take): for scripts that only need names, several times faster
   * than whole records for a large cluster, on both ends.
   */
  async *listNames(options: Omit<ListOptions, 'namesOnly'> = {}): AsyncGenerator<string[]> {
    for await (const page of this.listPages({ ...options, namesOnly: true }))
      yield page.names ?? page.records.map((r) => r.name);
  }

  /**
   * What the servers' scrubbers did and found (issue 13): each live server's pass,
   * and what each found of `names`; `start` starts a pass on every one.
   */
  async scrub(
    options: { start?: boolean; names?: string[] } = {},
  ): Promise<BodyOf<'SCRUB_RESULT'>> {
    return await this.#withFailover(
      async (server) =>
        await server.scrub({
          start: options.start ?? false,
          local: false,
          names: options.names ?? [],
        }),
    );
  }

  /**
   * A fault (issue 15) on server `serverId` (reached at its address from the status),
   * or on the connected server when undefined. Never failed over: a fault is for one
   * server, and a kill or stop ends its connection.
   */
  async fault(
    serverId: number | undefined,
    body: BodyOf<'FAULT'>,
  ): Promise<BodyOf<'FAULT_RESULT'>> {
    if (serverId === undefined || serverId === this.serverId) return await this.#home.fault(body);
    const member = (await this.status()).servers.find((m) => m.id === serverId);
    if (!member)
      throw new UsageError(`There is no server ${serverId}; "lanfs status" lists the servers.`);
    return await (await this.#connectTo(member.address)).fault(body);
  }

  async status(): Promise<BodyOf<'STATUS_RESULT'>> {
    const status = await this.#withFailover(async (server) => await server.status());
    this.#learnAddresses(status.servers.filter((s) => s.up).map((s) => s.address));
    return status;
  }

  /**
   * The status with every live server's space (bytes in files, versions, trash;
   * free disk) and bursts of deletes, which each server knows only of itself.
   */
  async statusEverywhere(): Promise<BodyOf<'STATUS_RESULT'>> {
    const status = await this.status();
    const answers = await this.#askEveryLive(async (s) => await s.status());
    return mergeOwnEntries(
      status,
      answers.map((a) => a.answer),
    );
  }

  /**
   * Creates name on the connected server with the bytes of source; NameExists if
   * taken anywhere. Give the source as a function returning a fresh stream so the
   * create can be sent again to another server if this one dies meanwhile; the
   * request id makes that replay harmless.
   */
  async create(
    name: string,
    source: UploadSource | (() => UploadSource),
    options: UploadOptions = {},
  ): Promise<FileRecord> {
    const body: BodyOf<'CREATE'> = {
      name: validateName(name),
      size: options.size ?? null,
      requestId: newRequestId(),
      writtenBy: clientHost(),
    };
    let attempt = 0;
    return await this.#withFailover(async (server) => {
      try {
        return await server.upload('CREATE', body, sourceOf(source), options);
      } catch (err) {
        // The server may have stored the create before it died: the replay tells the
        // next one, whose delete of the file must then wait for it (file-service.ts).
        if (isConnectionLoss(err))
          body.mayHold = [...new Set([...(body.mayHold ?? []), server.welcome.serverId])];
        throw inDoubt(
          err,
          attempt,
          ['LANFS_ERR_NAME_EXISTS', 'LANFS_ERR_UNAVAILABLE'],
          `create of "${body.name}"`,
        );
      } finally {
        attempt++;
      }
    }, replayable(source));
  }

  /**
   * Uploads the next version of name, refused (EditConflict) unless it is still at
   * baseVersion. Give the source as a function returning a fresh stream when it
   * cannot be read twice: a redirect or a failover sends it again.
   */
  async edit(
    name: string,
    baseVersion: number,
    source: UploadSource | (() => UploadSource),
    options: UploadOptions = {},
  ): Promise<FileRecord> {
    const body = {
      name: validateName(name),
      size: options.size ?? null,
      baseVersion,
      requestId: newRequestId(),
      writtenBy: clientHost(),
    };
    let attempt = 0;
    return await this.#withFailover(async (server) => {
      try {
        return await this.#followRedirects(server, (s) =>
          s.upload('EDIT', body, sourceOf(source), options),
        );
      } catch (err) {
        // Deleted since, or changed since: the first try may have been applied before that.
        // Or the file's only live holder was the server that died: "held by a server that
        // is down" says nothing of the first try either (a torture run read such an edit).
        throw inDoubt(
          err,
          attempt,
          ['LANFS_ERR_EDIT_CONFLICT', 'LANFS_ERR_NOT_FOUND', 'LANFS_ERR_UNAVAILABLE'],
          `edit of "${body.name}"`,
        );
      } finally {
        attempt++;
      }
    }, replayable(source));
  }

  async delete(name: string, options: { purge?: boolean } = {}): Promise<void> {
    const body = {
      name: validateName(name),
      requestId: newRequestId(),
      host: clientHost(),
      ...(options.purge ? { purge: true } : {}),
    };
    let attempt = 0;
    await this.#withFailover(async (server) => {
      try {
        await this.#followRedirects(server, (s) => s.delete(body));
      } catch (err) {
        // A replayed delete whose first try went through finds nothing: that is success.
        if (attempt > 0 && err instanceof LanfsError && err.code === 'LANFS_ERR_NOT_FOUND') return;
        throw err;
      } finally {
        attempt++;
      }
    });
  }

  /**
   * Streams the bytes of name into sink (which the caller ends) and checks them
   * against the file's sha256 before resolving. If the server dies meanwhile the
   * download resumes on another one from where it stopped. On a mismatch it
   * rejects, and the caller must throw away what the sink received.
   */
  async download(name: string, sink: Writable, options: DownloadOptions = {}): Promise<FileRecord> {
    const valid = validateName(name);
    const progress = newDownloadProgress();
    try {
      return await this.#withFailover(
        async (server) =>
          await this.#followRedirects(server, (s) => s.download(valid, sink, options, progress)),
      );
    } finally {
      progress.hash?.close();
    }
  }

  /**
   * Hands every event of the cluster, as the connected server sees them, to
   * onEvent until signal aborts. Each server reports the events of the whole
   * cluster, so when this server dies the watch moves to another live one like any
   * request (onFailover says so; events in between are missed, and the new
   * server's `watching` notice marks where it picks up) and goes on; it rejects
   * with NoServerError only when no server answers.
   */
  async watch(onEvent: (event: LanfsEvent) => void, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const server = this.#home;
      try {
        await server.watch(onEvent, signal);
        return;
      } catch (err) {
        if (!isConnectionLoss(err) || signal?.aborted) throw err;
        // No limit on the number of moves: a watch lives for hours; each move either
        // finds a live server or throws NoServerError.
        await this.#failOver(server, err as Error);
      }
    }
  }

  /** The versions a live holder of name keeps (the current one first), newest first. */
  async history(name: string): Promise<BodyOf<'HISTORY_RESULT'>> {
    const body = { name: validateName(name) };
    return await this.#withFailover(
      async (server) =>
        await this.#followRedirects(server, (s) => s.ask('HISTORY', body, 'HISTORY_RESULT')),
    );
  }

  /**
   * What every live server has in its trash, one entry per deleted version (the
   * servers that hold it in `servers`), newest delete first.
   */
  async trash(): Promise<(KeptEntryWire & { servers: number[] })[]> {
    const merged = new Map<string, KeptEntryWire & { servers: number[] }>();
    for (const { id, answer } of await this.#askEveryLive((s) =>
      s.ask('TRASH', {}, 'TRASH_RESULT'),
    )) {
      for (const item of answer.items) {
        const known = merged.get(item.key);
        if (known) known.servers.push(id);
        else merged.set(item.key, { ...item, servers: [id] });
      }
    }
    return [...merged.values()].sort((a, b) => b.keptAt - a.keptAt);
  }

  /** Brings back a trash entry from one of the servers that keep it (under `as`, or its name). */
  async undelete(
    entry: { key: string; servers: number[]; record?: FileRecord },
    as?: string,
  ): Promise<FileRecord> {
    const body = { key: entry.key, requestId: newRequestId(), ...(as ? { as } : {}) };
    // The file's last primary first, when it keeps the entry: the name's claim from the
    // create is its own there, while a peer may hold it a while longer.
    const primary = entry.record?.primary;
    const servers = (await this.status()).servers
      .filter((m) => m.up && entry.servers.includes(m.id))
      .sort((a, b) => Number(b.id === primary) - Number(a.id === primary));
    let last: unknown;
    for (const member of servers) {
      try {
        const server = await this.#connectTo(member.address);
        const done = await server.ask('UNDELETE', body, 'DONE');
        return done.record!;
      } catch (err) {
        if (err instanceof LanfsError && err.code !== 'LANFS_ERR_NOT_FOUND') throw err;
        last = err;
      }
    }
    throw (
      (last as Error | undefined) ??
      new LanfsError(
        'LANFS_ERR_UNAVAILABLE',
        'No live server keeps it in its trash; start the servers that held it and try again.',
      )
    );
  }

  /**
   * Uploads kept version `version` of name as its next version, on the servers'
   * side (the server asked forwards it to the file's acting primary): no bytes
   * travel through this client, and watchers see a `restored` event.
   */
  async restore(name: string, version: number): Promise<FileRecord> {
    const body = { name: validateName(name), version, host: clientHost() };
    return await this.#withFailover(async (server) => {
      const done = await this.#followRedirects(server, (s) => s.ask('RESTORE', body, 'DONE'));
      return done.record!;
    });
  }

  /** Takes, renews or releases the edit lease of name on its acting primary. */
  async lease(
    name: string,
    action: 'take' | 'renew' | 'release',
    holder: string,
    force = false,
  ): Promise<BodyOf<'LEASE_RESULT'>> {
    const body = { name: validateName(name), action, host: clientHost(), holder, force };
    return await this.#withFailover(
      async (server) =>
        await this.#followRedirects(server, (s) => s.ask('LEASE', body, 'LEASE_RESULT')),
    );
  }

  /** The edit leases held on every live server. */
  async leases(): Promise<Lease[]> {
    const answers = await this.#askEveryLive((s) => s.ask('LEASES', {}, 'LEASES_RESULT'));
    return answers.flatMap(({ answer }) => answer.leases);
  }

  /** Runs a request on every live server (those that fail to answer are left out). */
  async #askEveryLive<T>(
    operation: (server: ServerConnection) => Promise<T>,
  ): Promise<{ id: number; answer: T }[]> {
    const servers = (await this.status()).servers.filter((m) => m.up);
    const answers = await Promise.allSettled(
      servers.map(async (m) => ({
        id: m.id,
        answer: await operation(await this.#connectTo(m.address)),
      })),
    );
    return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  }

  close(): void {
    this.#home.close();
    for (const other of this.#others.values())
      void other.then((c) => c.close()).catch(() => undefined);
    this.#others.clear();
  }

  /**
   * Runs an operation on the current server; if that server dies or stops
   * answering, moves to another live server (those it knows, then the multicast
   * group) and runs it again, with the same request id.
   */
  async #withFailover<T>(
    operation: (server: ServerConnection) => Promise<T>,
    canReplay = true,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const server = this.#home;
      try {
        return await operation(server);
      } catch (err) {
        if (!isConnectionLoss(err) || attempt >= MAX_FAILOVERS) throw err;
        if (!canReplay) {
          throw new LanfsError(
            'LANFS_ERR_CONNECTION_CLOSED',
            `${(err as Error).message} The upload was read from a stream that cannot be read again; run the command again.`,
          );
        }
        await this.#failOver(server, err as Error);
      }
    }
  }

  /** Replaces the dead home connection (once, however many requests noticed). */
  async #failOver(dead: ServerConnection, reason: Error): Promise<ServerConnection> {
    if (this.#home !== dead) return this.#home; // another request already moved
    this.#failingOver ??= (async () => {
      dead.close();
      // Others first; the same server last (it may only have closed an idle connection).
      const candidates = [...this.#known.filter((a) => a !== dead.address), dead.address];
      let next: ServerConnection;
      try {
        next = await connectToFirst(candidates, this.#options, FAILOVER_DEADLINE_MS);
      } catch (err) {
        // Nobody we know answers: ask the group, if we may.
        const found = this.#options.discovery
          ? await findServers({
              ...this.#options.discovery,
              cluster: this.#options.credentials.cluster,
              key: this.#options.credentials.key,
            }).catch(() => [])
          : [];
        const others = found.filter((a) => a !== dead.address);
        // The group named nobody new: the sentence that counts names those tried.
        if (others.length === 0) throw err;
        next = await connectToFirst(others, this.#options, FAILOVER_DEADLINE_MS);
      }
      this.#home = next;
      this.#learn(next);
      this.#options.onFailover?.(
        `Server ${dead.welcome.serverId} at ${dead.address} stopped answering (${reason.message}); continuing on server ${next.welcome.serverId} at ${next.address}.`,
      );
      return next;
    })().finally(() => {
      this.#failingOver = undefined;
    });
    return await this.#failingOver;
  }

  #learn(server: ServerConnection): void {
    this.#learnAddresses(server.welcome.members.filter((m) => m.up).map((m) => m.address));
  }

  #learnAddresses(addresses: string[]): void {
    for (const address of addresses) if (!this.#known.includes(address)) this.#known.push(address);
  }

  async #followRedirects<T>(
    start: ServerConnection,
    operation: (server: ServerConnection) => Promise<T>,
  ): Promise<T> {
    let server = start;
    for (let hops = 0; ; hops++) {
      try {
        return await operation(server);
      } catch (err) {
        if (!(err instanceof Redirect)) throw err;
        if (hops >= MAX_REDIRECTS)
          throw new ProtocolError(
            `The servers kept redirecting the request (last to ${err.address}); try again in a moment.`,
          );
        this.#options.onEvent?.(
          `Server ${server.welcome.serverId} does not hold the file; going to server ${err.serverId} at ${err.address}.`,
        );
        // The server named cannot be reached (it died and the one that redirected has not
        // noticed yet): a lost connection like any, so the request fails over (issue 13's
        // edit-in-doubt test saw a bare "connection refused" under load).
        const to = err;
        server = await this.#connectTo(to.address).catch((cause: unknown) => {
          if (cause instanceof LanfsError) throw cause;
          throw new ConnectionClosedError(
            `Server ${to.serverId} at ${to.address} holds the file but cannot be reached (${(cause as Error).message}).`,
            { cause },
          );
        });
      }
    }
  }

  async #connectTo(address: string): Promise<ServerConnection> {
    if (address === this.#home.address) return this.#home;
    let pending = this.#others.get(address);
    const reuse = pending && !(await pending.catch(() => undefined))?.closed;
    if (!pending || !reuse) {
      pending = ServerConnection.open(
        address,
        this.#options.credentials,
        this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      );
      pending.catch(() => undefined);
      this.#others.set(address, pending);
    }
    try {
      return await pending;
    } catch (err) {
      this.#others.delete(address);
      throw new NoServerError(
        `Server at ${address} holds the file but does not answer (${(err as Error).message}); try again in a moment.`,
      );
    }
  }
}

/** The connection died or went silent: another server may finish the request. */
function isConnectionLoss(err: unknown): boolean {
  return (
    err instanceof LanfsError &&
    (err.code === 'LANFS_ERR_CONNECTION_CLOSED' || err.code === 'LANFS_ERR_TIMEOUT')
  );
}

function sourceOf(source: UploadSource | (() => UploadSource)): UploadSource {
  return typeof source === 'function' ? source() : source;
}

/** Whether an upload source can be sent again (a function, or an in-memory list). */
/**
 * A write sent again after its server died: refused now (the name taken, the file
 * changed), the first try may still have been applied on the server that died before
 * answering, so the client must not say it was not: its outcome is unknown.
 */
export function inDoubt(err: unknown, attempt: number, refusals: string[], what: string): unknown {
  if (attempt === 0 || !(err instanceof LanfsError) || !refusals.includes(err.code)) return err;
  return new ConnectionClosedError(
    `The server died during the ${what}, and it cannot be told whether that one took effect: ${err.message} Look with "lanfs history" or "lanfs show" before writing again.`,
    { cause: err },
  );
}

function replayable(source: UploadSource | (() => UploadSource)): boolean {
  return typeof source === 'function' || Array.isArray(source);
}

/** Connects to the first address that answers, trying them in order, all within deadlineMs. */
/** The host name this client says it writes from (kept in records, the trash, leases). */
export function clientHost(): string {
  return (process.env.LANFS_CLIENT_HOST ?? hostname()).slice(0, 255) || 'unknown';
}

async function connectToFirst(
  addresses: string[],
  options: ClientOptions,
  deadlineMs = Infinity,
): Promise<ServerConnection> {
  const failures: string[] = [];
  const deadline = Date.now() + deadlineMs;
  for (const address of addresses) {
    if (Date.now() > deadline) break;
    try {
      return await ServerConnection.open(
        address,
        options.credentials,
        options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      );
    } catch (err) {
      // A wrong key or version is the same on every server of a cluster: say so at once.
      if (
        err instanceof LanfsError &&
        err.code !== 'LANFS_ERR_CONNECTION_CLOSED' &&
        err.code !== 'LANFS_ERR_TIMEOUT'
      )
        throw err;
      failures.push(`${address} (${(err as Error).message})`);
    }
  }
  const tried = failures.length > 0 ? ` (tried ${failures.join('; ')})` : '';
  throw new NoServerError(
    `No lanfs server answered${tried}: ${options.noServerHint ?? NO_SERVER_HINT}`,
  );
}

async function discover(options: ClientOptions): Promise<string[]> {
  if (!options.discovery)
    throw new NoServerError('No server address given and no multicast group to ask.');
  const { group, interfaceAddress } = options.discovery;
  const found = await findServers({
    group,
    interfaceAddress,
    cluster: options.credentials.cluster,
    key: options.credentials.key,
  });
  if (found.length === 0) {
    throw new NoServerError(
      `No lanfs server answered on ${group.address}:${group.port}${interfaceAddress ? ` (interface ${interfaceAddress})` : ''}: start one with "lanfs server" or "lanfs up", check --cluster and the key, or give --server HOST:PORT.`,
    );
  }
  options.onEvent?.(
    `Found ${found.length} server${found.length === 1 ? '' : 's'} by multicast: ${found.join(', ')}.`,
  );
  return found;
}
