/**
 * A lanfs server in the test's own process, on 127.0.0.1 and a free port, quiet,
 * stopped when the test ends (before its folder goes): for tests that call the
 * file service or freeze timers, which a server process would not let them do.
 */
import { LanfsServer, type ServerOptions } from '../../src/server/server.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import type { Cleanup } from './cli.ts';
import { onCleanup } from './cleanup.ts';

export async function startInProcess(
  t: Cleanup,
  options: { dataDir: string; id: number; key: string } & Partial<ServerOptions>,
): Promise<LanfsServer> {
  const { id, key, ...rest } = options;
  const server = new LanfsServer({
    serverId: id,
    host: '127.0.0.1',
    port: 0,
    credentials: { key, insecure: false, cluster: 'lanfs' },
    logger: silentLogger(),
    ...rest,
  });
  onCleanup(t, () => server.stop());
  await server.start();
  return server;
}
