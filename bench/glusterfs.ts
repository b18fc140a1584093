/**
 * GlusterFS as a peer for the bench (issue 10): what a user on a LAN would pick
 * instead of lanfs for a replicated file system. One volume of two bricks with
 * replica 2 (two copies of every file, as lanfs with --replicas 2) and the FUSE
 * mount that programs use, stopped and removed at the end: its processes (found by
 * their namespace), the mount, the namespace, and what GlusterFS leaves outside
 * the temp folder whatever it is told (sockets, log folders, appended logs).
 *
 * GlusterFS refuses 127.0.0.1 for a brick, so its daemons run in a network
 * namespace of the bench's own whose only interface is its loopback, carrying
 * 10.231.0.2; the mount is made from inside that namespace too, so its client
 * talks only there. Nothing is sent out of the machine.
 *
 * Never installed by the bench: startGlusterfs returns undefined when glusterd,
 * gluster or mount.glusterfs is missing, when the bench is not root, or with
 * BENCH_GLUSTERFS=none (Debian: apt-get install glusterfs-server glusterfs-client).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { atExit, findProgram, track, waitExit } from './lib.ts';

const run = promisify(execFile);

/** The address of the bricks, on the namespace's own loopback. */
const BRICK_HOST = '10.231.0.2';
const START_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 60_000;
/** Where GlusterFS puts its bricks' logs whatever it is told; ours are removed after. */
const BRICK_LOG_DIR = '/var/log/glusterfs/bricks';
/** Folders GlusterFS makes for each volume whatever it is told; ours are removed after. */
const VOLUME_LOG_DIRS = ['/var/log/glusterfs/gfproxy', '/var/log/glusterfs/snaps'];
/** Logs GlusterFS appends to whatever it is told; cut back to their size before the bench. */
const SHARED_LOGS = ['/var/log/glusterfs/cmd_history.log', '/var/log/glusterfs/glustershd.log'];

export interface Glusterfs {
  /** The FUSE mount of the volume: a folder programs write to and read from. */
  mount: string;
  version: string;
  /** Unmounts and mounts again, so that the next reads find nothing cached on the client. */
  remount: () => Promise<void>;
  stop: () => Promise<void>;
}

/** The processes in namespace: glusterd, the bricks, the self-heal daemon, the FUSE client. */
function namespacePids(namespace: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map(Number);
  } catch {
    return []; // no such namespace (any more)
  }
}

/** The -S socket paths on a GlusterFS process's command line. */
function socketsOf(pid: number): string[] {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.flatMap((arg, i) => (arg === '-S' && args[i + 1] ? [args[i + 1]!] : []));
  } catch {
    return [];
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** Why GlusterFS cannot run here, or undefined when it can. */
export function glusterfsMissing(): string | undefined {
  if (process.env.BENCH_GLUSTERFS === 'none') return 'BENCH_GLUSTERFS=none';
  if (process.getuid?.() !== 0) return 'the bench is not root (a FUSE mount and a namespace)';
  for (const name of ['glusterd', 'gluster', 'mount.glusterfs', 'nsenter', 'ip'])
    if (!findProgram(name))
      return `${name} is not installed (Debian: apt-get install glusterfs-server glusterfs-client)`;
  return undefined;
}

/** Starts a replica-2 volume in prefix (an empty temp folder) and mounts it at prefix/mnt. */
export async function startGlusterfs(prefix: string): Promise<Glusterfs | undefined> {
  if (glusterfsMissing()) return undefined;
  // The pid makes every name ours: the namespace, the volume (in every GlusterFS
  // process's command line, so a crashed bench's leftovers can be found by it).
  const volume = `lanfsbench${process.pid}`;
  const namespace = `lanfs-bench-gl-${process.pid}`;
  const mount = join(prefix, 'mnt');
  const bricks = [join(prefix, 'brick-1'), join(prefix, 'brick-2')];
  const volfile = join(prefix, `${volume}.vol`);
  for (const dir of ['work', 'run', 'log', 'mnt', 'brick-1', 'brick-2'])
    await mkdir(join(prefix, dir), { recursive: true });

  const inNamespace = ['--net=' + `/run/netns/${namespace}`];
  const gluster = (args: string[]): Promise<{ stdout: string }> =>
    run(
      'nsenter',
      [
        ...inNamespace,
        'gluster',
        '--mode=script',
        `--glusterd-sock=${join(prefix, 'run', 'glusterd.socket')}`,
        `--log-file=${join(prefix, 'log', 'cli.log')}`,
        ...args,
      ],
      { timeout: COMMAND_TIMEOUT_MS },
    );
  const mountVolume = (): Promise<unknown> =>
    run(
      'nsenter',
      [
        ...inNamespace,
        'mount',
        '-t',
        'glusterfs',
        '-o',
        `log-file=${join(prefix, 'log', 'client.log')}`,
        `${BRICK_HOST}:/${volume}`,
        mount,
      ],
      { timeout: COMMAND_TIMEOUT_MS },
    );

  // Everything below, undone, also when the bench dies half-way. The processes go
  // first (a mount helper still running could otherwise mount again after the unmount);
  // they are found by their namespace, so nothing else on the machine is touched.
  const sockets = new Set<string>();
  const logsBefore = new Map(SHARED_LOGS.map((log) => [log, sizeOf(log)]));
  const undo = (): void => {
    for (const pid of namespacePids(namespace)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    for (const args of [
      ['umount', '-l', mount],
      ['ip', 'netns', 'del', namespace],
    ]) {
      try {
        execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' });
      } catch {
        // Not there (any more): nothing to undo.
      }
    }
    const ours = [
      ...sockets,
      ...bricks.map((b) => join(BRICK_LOG_DIR, `${b.slice(1).replaceAll('/', '-')}.log`)),
      ...VOLUME_LOG_DIRS.map((dir) => join(dir, volume)),
    ];
    for (const path of ours) rmSync(path, { recursive: true, force: true });
    // GlusterFS appends to these whatever it is told: back to what they held.
    for (const [log, size] of logsBefore) {
      try {
        if (size === undefined) rmSync(log, { force: true });
        else truncateSync(log, size);
      } catch {
        // Unchanged or gone.
      }
    }
  };
  const forget = atExit(undo);

  try {
    await run('ip', ['netns', 'add', namespace]);
    await run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', namespace, 'addr', 'add', `${BRICK_HOST}/32`, 'dev', 'lo']);
    await writeFile(
      volfile,
      `# lanfs bench: a private glusterd, state and sockets under ${prefix}
volume management
    type mgmt/glusterd
    option working-directory ${join(prefix, 'work')}
    option run-directory ${join(prefix, 'run')}
    option glusterd-sockfile ${join(prefix, 'run', 'glusterd.socket')}
    option transport-type socket
    option transport.socket.bind-address ${BRICK_HOST}
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
`,
    );
    // -N: in the foreground, a child of the bench (its bricks still detach).
    const glusterd = track(
      spawn(
        'nsenter',
        [
          ...inNamespace,
          'glusterd',
          '-N',
          '-f',
          volfile,
          '-l',
          join(prefix, 'log', 'glusterd.log'),
        ],
        { stdio: 'ignore' },
      ),
    );
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        await gluster(['volume', 'list']);
        break;
      } catch (err) {
        if (performance.now() > deadline || glusterd.exitCode !== null)
          throw new Error(`bench: glusterd did not start: ${String(err)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // force: both bricks on one host (GlusterFS warns that a host failure takes both).
    await gluster([
      'volume',
      'create',
      volume,
      'replica',
      '2',
      ...bricks.map((b) => `${BRICK_HOST}:${b}`),
      'force',
    ]);
    await gluster(['volume', 'start', volume]);
    // The bricks' and self-heal daemon's sockets go to /var/run/gluster whatever
    // run-directory says: their paths are on their command lines (-S PATH).
    for (const pid of namespacePids(namespace))
      for (const socket of socketsOf(pid)) sockets.add(socket);
    await mountVolume();
    const version = (await run('glusterfs', ['--version'])).stdout.split('\n')[0]!.trim();
    return {
      mount,
      version,
      remount: async () => {
        await run('umount', [mount]);
        await mountVolume();
      },
      stop: async () => {
        try {
          await run('umount', [mount]);
          await gluster(['volume', 'stop', volume]);
          glusterd.kill('SIGTERM');
          await waitExit(glusterd, 5000);
        } finally {
          undo();
          forget();
        }
      },
    };
  } catch (err) {
    undo();
    forget();
    throw err;
  }
}
