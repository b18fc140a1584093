/**
 * A lanfs server: the composition root. It opens the data directory (records and
 * bytes), listens on TCP, runs the handshake on every connection and hands each
 * authenticated client to a ClientSession. Everything it needs comes in as
 * options, so a test (or `lanfs up`) can run several servers in one process.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { BodyOf } from '../protocol/messages.ts';
import { ConfigError, LanfsError, ProtocolError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { LocalCatalog, type ScanReport } from '../storage/local-catalog.ts';
import { Connection } from '../transport/connection.ts';
import { acceptHandshake, type Credentials } from '../transport/handshake.ts';
import { ClientSession } from './client-session.ts';

export const DEFAULT_PORT = 7070;
export const DEFAULT_CLUSTER = 'lanfs';
export const DEFAULT_REPLICAS = 2;

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
  logger: Logger;
}

export class LanfsServer {
  readonly #options: ServerOptions;
  readonly #logger: Logger;
  #catalog: LocalCatalog | undefined;
  #listener: NetServer | undefined;
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
    return this.#requireCatalog().serverId;
  }

  /** host:port clients can dial (valid once started). */
  get address(): string {
    const address = this.#listener?.address();
    if (!address || typeof address === 'string') throw new Error('server not listening');
    const host =
      address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
    return `${host}:${address.port}`;
  }

  get port(): number {
    return Number(this.address.split(':').pop());
  }

  get scanReport(): ScanReport | undefined {
    return this.#scan;
  }

  get catalog(): LocalCatalog {
    return this.#requireCatalog();
  }

  async start(): Promise<void> {
    const { catalog, scan } = await LocalCatalog.open({
      root: this.#options.dataDir,
      serverId: this.#options.serverId,
      logger: this.#logger,
    });
    this.#catalog = catalog;
    this.#scan = scan;
    const listener = createServer((socket) => this.#accept(socket));
    this.#listener = listener;
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(this.#options.port ?? DEFAULT_PORT, this.#options.host ?? '0.0.0.0', () => {
          listener.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await catalog.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new ConfigError(
          `Port ${this.#options.port ?? DEFAULT_PORT} is already in use: stop the other program or pick another --port.`,
        );
      }
      throw err;
    }
    this.#logger.info(
      { serverId: catalog.serverId, address: this.address, ...scan },
      'server started',
    );
  }

  async stop(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    for (const connection of this.#connections) connection.destroy();
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
    await this.#catalog?.close();
  }

  status(): BodyOf<'STATUS_RESULT'> {
    const catalog = this.#requireCatalog();
    return {
      serverId: catalog.serverId,
      insecure: this.#options.credentials.insecure,
      replicas: this.#options.replicas ?? DEFAULT_REPLICAS,
      servers: [{ id: catalog.serverId, address: this.address, up: true, files: catalog.size }],
    };
  }

  #accept(socket: Socket): void {
    const connection = new Connection(socket);
    this.#connections.add(connection);
    connection.onClose(() => this.#connections.delete(connection));
    void this.#serve(connection);
  }

  /** Never throws: a failed handshake only closes its own connection. */
  async #serve(connection: Connection): Promise<void> {
    const catalog = this.#requireCatalog();
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
      connection.close(new ProtocolError('This server does not accept server connections yet.'));
      return;
    }
    connection.send('WELCOME', 0, {
      serverId: catalog.serverId,
      members: this.status().servers,
      insecure: this.#options.credentials.insecure,
    });
    new ClientSession(connection, { catalog, logger: this.#logger, status: () => this.status() });
  }

  #requireCatalog(): LocalCatalog {
    if (!this.#catalog) throw new Error('server not started');
    return this.#catalog;
  }
}
