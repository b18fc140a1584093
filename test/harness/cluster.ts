/**
 * A cluster of real `lanfs server` processes on loopback for one test: each
 * with a temp data folder of its own, all on one multicast group of the test's
 * own, with the same key. startCluster returns once every server sees all of
 * them up (by `lanfs status --json`), so a test starts from a formed cluster.
 * Servers and folders go when the test ends, also on failure (startServer and
 * tempDir register that).
 */
import { runCli, startServer, uniqueGroup, type Cleanup, type ServerProcess } from './cli.ts';
import { tempDir } from './tmp-dir.ts';
import { waitFor } from './wait-for.ts';

export const TEST_KEY = 'lanfs-test-key';

export interface ClusterOptions {
  /** The cluster key of every server (default TEST_KEY); ignored with insecure. */
  key?: string;
  /** Run without a key (--insecure). */
  insecure?: boolean;
  /** Server ids, one per server (default 1..n). */
  ids?: number[];
  /** Arguments for every server (--replicas, --heal-after, TLS...), or per server index. */
  args?: string[] | ((i: number) => string[]);
  /** Environment of server i (LANFS_CRASH_POINT...). */
  env?: (i: number) => NodeJS.ProcessEnv;
  /** What a client needs besides the key (TLS files...), in env() and the wait for all. */
  clientEnv?: NodeJS.ProcessEnv;
  /** Puts files in server i's data folder before it starts. */
  seed?: (data: string, i: number) => Promise<unknown>;
  /** Wait until every server sees all n up (default true). */
  waitForAll?: boolean;
}

export interface TestCluster {
  key: string | undefined;
  group: string;
  /** The running servers, by index (index i has id ids[i]); restart() replaces an entry. */
  servers: ServerProcess[];
  ids: number[];
  /** The data folder of server i. */
  data: (i: number) => string;
  /** A CLI environment: the key, and server i (or every server, for failover) as LANFS_SERVER. */
  env: (i?: number, extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
  /** SIGTERM, and wait for the exit. */
  stop: (i: number) => Promise<void>;
  /** SIGKILL (kill -9), and wait for the exit. */
  kill: (i: number) => Promise<void>;
  /**
   * Starts server i again on its folder and group, with the same arguments but no
   * --id (it reads its saved id). `port` keeps an address clients already know.
   */
  restart: (
    i: number,
    options?: { port?: number; env?: NodeJS.ProcessEnv },
  ) => Promise<ServerProcess>;
  /** The ids of the servers server i sees up. */
  upIds: (i: number) => Promise<number[]>;
  /** Waits (10 s unless told) until server index `by` sees server id `id` as up, or down. */
  waitUp: (id: number, by: number, up?: boolean, timeoutMs?: number) => Promise<void>;
}

export async function startCluster(
  t: Cleanup,
  n: number,
  options: ClusterOptions = {},
): Promise<TestCluster> {
  const key = options.insecure ? undefined : (options.key ?? TEST_KEY);
  const group = uniqueGroup();
  const ids = options.ids ?? Array.from({ length: n }, (_, i) => i + 1);
  const argsOf = (i: number): string[] =>
    typeof options.args === 'function' ? options.args(i) : (options.args ?? []);
  const common = (i: number): string[] => [
    ...(key === undefined ? ['--insecure'] : ['--key', key]),
    '--group',
    group,
    ...argsOf(i),
  ];
  const dirs = await Promise.all(ids.map(() => tempDir(t)));
  if (options.seed) await Promise.all(dirs.map((dir, i) => options.seed!(dir, i)));
  const servers = await Promise.all(
    ids.map((id, i) =>
      startServer(t, ['--data', dirs[i]!, '--id', String(id), ...common(i)], options.env?.(i)),
    ),
  );
  // What the CLI keeps in the temp folder (an edit's copy, when its upload is refused or
  // its process killed) goes to a folder of this test's, removed with it.
  const cliTemp = await tempDir(t);
  const cliEnv = (i?: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    TMPDIR: cliTemp,
    ...(key === undefined ? {} : { LANFS_KEY: key }),
    ...options.clientEnv,
    LANFS_SERVER: i === undefined ? servers.map((s) => s.address).join(',') : servers[i]!.address,
    ...extra,
  });
  const upIds = async (i: number): Promise<number[]> => {
    const result = await runCli(['status', '--json'], { env: cliEnv(i) });
    if (result.code !== 0) throw new Error(result.stderr);
    return (JSON.parse(result.stdout) as { servers: { id: number; up: boolean }[] }).servers
      .filter((s) => s.up)
      .map((s) => s.id);
  };
  const cluster: TestCluster = {
    key,
    group,
    servers,
    ids,
    data: (i) => dirs[i]!,
    env: cliEnv,
    stop: (i) => servers[i]!.stop(),
    kill: (i) => servers[i]!.kill9(),
    restart: async (i, restartOptions = {}) => {
      const port = restartOptions.port === undefined ? [] : ['--port', String(restartOptions.port)];
      servers[i] = await startServer(
        t,
        ['--data', dirs[i]!, ...common(i), ...port],
        restartOptions.env ?? options.env?.(i),
      );
      return servers[i];
    },
    upIds,
    waitUp: async (id, by, up = true, timeoutMs = 10_000) => {
      await waitFor(
        `server ${id} marked ${up ? 'up' : 'down'} by server ${ids[by]}`,
        () => upIds(by),
        (seen) => seen.includes(id) === up,
        { timeoutMs },
      );
    },
  };
  if (options.waitForAll ?? true) {
    for (let i = 0; i < n; i++) {
      await waitFor(
        `all ${n} servers up on server ${ids[i]}`,
        () => upIds(i),
        (up) => ids.every((id) => up.includes(id)),
      );
    }
  }
  return cluster;
}
