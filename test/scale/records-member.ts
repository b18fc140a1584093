/**
 * A cluster member that holds records only, for scale tests and measurements: a
 * real peer mesh (src/cluster/peer-mesh.ts) over an in-memory catalog of n
 * made-up records, listening on loopback. Real servers given its address in
 * --peers link with it and receive its records over the real mesh, as from any
 * server; it holds no bytes and runs no replicator, so use --replicas 1 (nobody
 * then asks it for a copy). Makes a million records in about a second, where a
 * real server would first have to write and hash a million files.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { ClusterView } from '../../src/cluster/cluster-view.ts';
import { PeerMesh } from '../../src/cluster/peer-mesh.ts';
import type { FileRecord } from '../../src/protocol/messages.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import type { LocalCatalog } from '../../src/storage/local-catalog.ts';
import { Connection } from '../../src/transport/connection.ts';
import { acceptHandshake, type Credentials } from '../../src/transport/handshake.ts';
import type { Cleanup } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';

/** The name of made-up record i: 100 folders, names sorting in no particular order of i. */
export function recordName(i: number): string {
  return `d${String(i % 100).padStart(2, '0')}/f${((i * 7919) % 1_000_003).toString(36)}-${i}`;
}

export function madeUpRecord(i: number, primary: number): FileRecord {
  return {
    name: recordName(i),
    fileId: (0x10000000 + i).toString(16).padStart(16, '0'),
    size: i % 5000,
    sha256: (i % 16).toString(16).repeat(64),
    version: 1,
    primary,
    replicas: [],
    modifiedAt: 1_700_000_000_000 + i,
  };
}

/** What the mesh reads of its catalog, in memory. */
class RecordsCatalog {
  readonly serverId: number;
  readonly records = new Map<string, FileRecord>();
  readonly #meta = new Map<string, string>();
  constructor(serverId: number) {
    this.serverId = serverId;
  }
  get size(): number {
    return this.records.size;
  }
  get(name: string): FileRecord | undefined {
    return this.records.get(name);
  }
  has(name: string): boolean {
    return this.records.has(name);
  }
  list(): FileRecord[] {
    return [...this.records.values()];
  }
  names(): IterableIterator<string> {
    return this.records.keys();
  }
  tombstones(): [] {
    return [];
  }
  tombstonesOf(): [] {
    return [];
  }
  onChange(): void {}
  getMeta(key: string): string | undefined {
    return this.#meta.get(key);
  }
  setMeta(key: string, value: string): void {
    this.#meta.set(key, value);
  }
  isReserved(): boolean {
    return false;
  }
}

/**
 * A server asking for this member's scrub report (its `show` and /api/files say what the
 * scrubs found of each file) gets an empty one: it has no copies to scrub. Anything else
 * a replicator asks (a copy) is refused.
 */
function answerScrubs(connection: Connection, id: number, view: ClusterView): void {
  connection.send('WELCOME', 0, { serverId: id, members: view.servers(), insecure: false });
  connection.setHandler((message) => {
    if (message.type === 'SCRUB')
      connection.send('SCRUB_RESULT', message.streamId, { servers: [], files: [] });
    else if (message.streamId !== 0)
      connection.send('ERROR', message.streamId, {
        code: 'LANFS_ERR_UNAVAILABLE',
        message: 'a records-only member holds no bytes',
      });
  });
}

export interface RecordsMember {
  id: number;
  address: string;
  mesh: PeerMesh;
  view: ClusterView;
  stop: () => Promise<void>;
}

/** Starts a member with id `id` holding `count` made-up records, stopped when the test ends. */
export async function startRecordsMember(
  t: Cleanup | undefined,
  options: { id: number; count: number; key: string; downAfterMs?: number },
): Promise<RecordsMember> {
  const catalog = new RecordsCatalog(options.id);
  for (let i = 0; i < options.count; i++) {
    const record = madeUpRecord(i, options.id);
    catalog.records.set(record.name, record);
  }
  const credentials: Credentials = { key: options.key, insecure: false, cluster: 'lanfs' };
  let address = '';
  const view = new ClusterView(catalog as unknown as LocalCatalog, () => address);
  const mesh = new PeerMesh({
    serverId: options.id,
    instance: randomBytes(8).toString('hex'),
    credentials,
    address: () => address,
    catalog: catalog as unknown as LocalCatalog,
    view,
    logger: silentLogger(),
    downAfterMs: options.downAfterMs,
    onDuplicateId: (err) => {
      throw err;
    },
  });
  const connections = new Set<Connection>();
  const listener: Server = createServer((socket) => {
    const connection = new Connection(socket);
    connections.add(connection);
    connection.onClose(() => connections.delete(connection));
    acceptHandshake(connection, options.id, credentials).then(
      (hello) => {
        if (hello.role === 'server') mesh.accept(connection, hello);
        else if (hello.role === 'replicator') answerScrubs(connection, options.id, view);
        else connection.close();
      },
      () => connection.destroy(),
    );
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(listener.address() as { port: number }).port}`;
  mesh.start();
  const stop = async (): Promise<void> => {
    mesh.stop();
    for (const connection of connections) connection.destroy();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  };
  if (t) onCleanup(t, stop);
  return { id: options.id, address, mesh, view, stop };
}
