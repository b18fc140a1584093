/**
 * `lanfs up`: a whole cluster on this machine, for trying lanfs out. Servers run
 * in this process on loopback, with data under ./lanfs-data/server-N and a key
 * generated once (./lanfs-data/key); then the shell opens on them. Leaving the
 * shell (bye, Ctrl-D, Ctrl-C) stops the servers and says so.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LanfsServer } from '../../server/server.ts';
import { ConfigError } from '../../shared/errors.ts';
import { fileLogger } from '../../shared/logger.ts';
import { print, type CliContext } from '../context.ts';
import { runShell } from '../shell.ts';
import { parseGroup } from '../../discovery/multicast-beacon.ts';
import { parsePositiveInt } from './server.ts';

export const UP_BASE_PORT = 7070;
export const UP_HTTP_BASE_PORT = 8070;

async function loadOrMakeKey(dataRoot: string): Promise<string> {
  const path = join(dataRoot, 'key');
  try {
    const key = (await readFile(path, 'utf8')).trim();
    if (key.length > 0) return key;
  } catch {
    // no key yet
  }
  const key = randomBytes(24).toString('base64url');
  await writeFile(path, `${key}\n`, { mode: 0o600 });
  return key;
}

export async function up(
  ctx: CliContext,
  options: { servers: string; data: string; group: string },
): Promise<void> {
  const count = parsePositiveInt(options.servers, '--servers');
  if (count > 16) throw new ConfigError('lanfs up runs at most 16 servers on one machine.');
  const dataRoot = resolve(options.data);
  await mkdir(dataRoot, { recursive: true });
  const key = await loadOrMakeKey(dataRoot);
  const logger = fileLogger(join(dataRoot, 'servers.log'));
  const servers: LanfsServer[] = [];
  try {
    for (let id = 1; id <= count; id++) {
      const base = {
        dataDir: join(dataRoot, `server-${id}`),
        serverId: id,
        host: '127.0.0.1',
        credentials: { key, insecure: false, cluster: 'lanfs' },
        // The servers find each other by multicast, on loopback only.
        discovery: { group: parseGroup(options.group), interfaceAddress: '127.0.0.1' },
        logger: logger.child({ server: id }),
      };
      let server = new LanfsServer({
        ...base,
        port: UP_BASE_PORT + id - 1,
        httpPort: UP_HTTP_BASE_PORT + id - 1,
      });
      try {
        await server.start();
      } catch (err) {
        if (!(err instanceof ConfigError) || !err.message.includes('in use')) throw err;
        server = new LanfsServer({ ...base, port: 0, httpPort: 0 }); // a port is taken: any free ones will do
        await server.start();
      }
      servers.push(server);
    }
    const addresses = servers.map((s) => s.address);
    const banner = [
      `lanfs is up: ${count} server${count === 1 ? '' : 's'} on this machine, found by each other over multicast on loopback.`,
      'Each exports its own folder; together they show one list of every file. What you create',
      'is stored on the server this shell is connected to; the others list it too.',
      ...servers.map(
        (s) =>
          `  server ${s.id}  ${s.address}  dashboard http://${s.httpAddress ?? '-'}/  data in ${s.catalog.directory.root}`,
      ),
      `Server logs: ${join(dataRoot, 'servers.log')}`,
      '',
      'To use this cluster from another terminal while this one runs:',
      `  export LANFS_SERVER=${addresses.join(',')} LANFS_KEY=$(cat ${join(dataRoot, 'key')})`,
      '  npx lanfs show        # or: npx lanfs shell',
      '(or find them by multicast: export LANFS_INTERFACE=127.0.0.1 and the same LANFS_KEY)',
      `The dashboards (links above) ask for the key once: it is in ${join(dataRoot, 'key')}.`,
      '',
    ].join('\n');
    await runShell({
      client: {
        servers: addresses,
        credentials: { key, insecure: false, cluster: 'lanfs' },
        onFailover: (line) => process.stderr.write(`${line}\n`),
      },
      banner,
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    logger.flush();
    if (servers.length > 0)
      print(
        ctx,
        `Stopped ${servers.length} server${servers.length === 1 ? '' : 's'}; your files stay in ${dataRoot}.`,
      );
  }
}
