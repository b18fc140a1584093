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
import type { Writable } from 'node:stream';
import { findServers } from '../discovery/discovery.ts';
import type { GroupAddress } from '../discovery/multicast-beacon.ts';
import { validateName } from '../protocol/file-name.ts';
import type { BodyOf, FileRecord, Member } from '../protocol/messages.ts';
import { LanfsError, NoServerError, ProtocolError } from '../shared/errors.ts';
import type { Credentials } from '../transport/handshake.ts';
import {
  newRequestId,
  Redirect,
  ServerConnection,
  type DownloadOptions,
  type UploadOptions,
  type UploadSource,
} from './server-connection.ts';

export {
  parseAddress,
  type DownloadOptions,
  type UploadOptions,
  type UploadSource,
} from './server-connection.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
/** Redirects followed for one request before giving up (a loop means views disagree). */
const MAX_REDIRECTS = 3;

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
}

export class LanfsClient {
  readonly #options: ClientOptions;
  readonly #home: ServerConnection;
  /** Connections to the other servers redirects led to, by address. */
  readonly #others = new Map<string, Promise<ServerConnection>>();

  private constructor(options: ClientOptions, home: ServerConnection) {
    this.#options = options;
    this.#home = home;
  }

  /** Connects to the first server that answers and authenticates. */
  static async connect(options: ClientOptions): Promise<LanfsClient> {
    const servers = options.servers ?? (await discover(options));
    const failures: string[] = [];
    for (const address of servers) {
      try {
        const home = await ServerConnection.open(
          address,
          options.credentials,
          options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        );
        options.onEvent?.(`Connected to server ${home.welcome.serverId} at ${address}.`);
        return new LanfsClient(options, home);
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
    throw new NoServerError(
      `No lanfs server answered (tried ${failures.join('; ')}): start one with "lanfs server" or "lanfs up", or point --server / LANFS_SERVER at one.`,
    );
  }

  /** The address of the server this client connected to. */
  get address(): string {
    return this.#home.address;
  }

  /** The id of the server this client connected to. */
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

  /** Every file in the system (the single system image), sorted by name. */
  async list(): Promise<FileRecord[]> {
    const records = await this.#home.list();
    return records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async status(): Promise<BodyOf<'STATUS_RESULT'>> {
    return await this.#home.status();
  }

  /** Creates name on the connected server with the bytes of source; NameExists if taken anywhere. */
  async create(
    name: string,
    source: UploadSource,
    options: UploadOptions = {},
  ): Promise<FileRecord> {
    const valid = validateName(name);
    return await this.#home.upload(
      'CREATE',
      { name: valid, size: options.size ?? null, requestId: newRequestId() },
      source,
      options,
    );
  }

  /**
   * Uploads the next version of name, refused (EditConflict) unless it is still at
   * baseVersion. Give the source as a function returning a fresh stream when it
   * cannot be read twice: a redirect sends it again to the server holding the file.
   */
  async edit(
    name: string,
    baseVersion: number,
    source: UploadSource | (() => UploadSource),
    options: UploadOptions = {},
  ): Promise<FileRecord> {
    const valid = validateName(name);
    const body = {
      name: valid,
      size: options.size ?? null,
      baseVersion,
      requestId: newRequestId(),
    };
    return await this.#followRedirects((server) =>
      server.upload('EDIT', body, typeof source === 'function' ? source() : source, options),
    );
  }

  async delete(name: string): Promise<void> {
    const body = { name: validateName(name), requestId: newRequestId() };
    await this.#followRedirects((server) => server.delete(body));
  }

  /**
   * Streams the bytes of name into sink (which the caller ends) and checks them
   * against the file's sha256 before resolving. On a mismatch it rejects, and
   * the caller must throw away what the sink received.
   */
  async download(name: string, sink: Writable, options: DownloadOptions = {}): Promise<FileRecord> {
    const valid = validateName(name);
    return await this.#followRedirects((server) => server.download(valid, sink, options));
  }

  close(): void {
    this.#home.close();
    for (const other of this.#others.values())
      void other.then((c) => c.close()).catch(() => undefined);
    this.#others.clear();
  }

  async #followRedirects<T>(operation: (server: ServerConnection) => Promise<T>): Promise<T> {
    let server = this.#home;
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
        server = await this.#connectTo(err.address);
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
