/**
 * `lanfs up`: a whole cluster on this machine, for trying lanfs out. It locks its
 * data folder (one `lanfs up` per folder), makes a key once (./lanfs-data/key),
 * and runs each server as a `lanfs server` process of its own on loopback (data
 * in ./lanfs-data/server-N, output in ./lanfs-data/server-N.log), so that one can
 * be stopped or killed to watch the others carry on. Then the shell opens on them,
 * with `servers`, `stop N`, `kill N` and `start N` besides the file commands.
 * Leaving the shell (bye, Ctrl-D, Ctrl-C), SIGINT or SIGTERM stops every server;
 * if `up` itself dies, its servers notice their IPC channel close and stop too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockDataFolder } from '../../storage/data-lock.ts';
import { ConfigError, UsageError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { table } from '../format.ts';
import { runShell, type ShellCommand, type ShellHooks } from '../shell.ts';
import { parseGroup } from '../../discovery/multicast-beacon.ts';
import { parsePositiveInt } from '../options.ts';
import { cutServers, healAll, slowSentence } from './fault.ts';
import { LanfsClient } from '../../client/client.ts';

export const UP_BASE_PORT = 7070;
export const UP_HTTP_BASE_PORT = 8070;
/** The environment variable that tells a server it was started by `lanfs up` (main.ts). */
export const UP_CHILD_ENV = 'LANFS_UP_CHILD';
/** The lanfs executable; its servers run the same one (src/ and dist/ both sit two levels down). */
export const LANFS_BIN = fileURLToPath(new URL('../../../bin/lanfs.cjs', import.meta.url));
/** How long a server may take to start (open its folder, listen) before up gives up on it. */
const START_TIMEOUT_MS = 30_000;
/** How long a server may take to stop after SIGTERM before it gets SIGKILL. */
const STOP_TIMEOUT_MS = 15_000;
/** How often a starting server's log is looked at for its "serving" line. */
const START_POLL_MS = 100;

export interface UpOptions {
  servers: string;
  data: string;
  group: string;
  port: string;
  httpPort: string;
}

/** One server of `lanfs up`: its process when running, and where it listens. */
interface UpServer {
  id: number;
  dir: string;
  log: string;
  /** The ports asked for; 0 for any free one. After a start, the ones it got. */
  port: number;
  httpPort: number;
  child?: ChildProcess;
  exited?: Promise<void>;
  /** How its last process ended ("exited with code 1", "stopped"...). */
  ended?: string;
  address?: string;
  httpAddress?: string;
  /** Said in the banner when a port asked for was taken ("port 7070 was in use; ..."). */
  moved?: string;
  /** SIGSTOPped by "freeze N" (or lanfs fault stop): "cont N" resumes it. */
  frozen?: boolean;
}

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

/** The environment of a server: up's, without the client settings up gives as options. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { [UP_CHILD_ENV]: '1' };
  for (const [name, value] of Object.entries(process.env))
    if (!/^LANFS_(KEY|CLUSTER|SERVER|TLS_CERT|TLS_KEY|TLS_CA)$/.test(name)) env[name] = value;
  return env;
}

function running(server: UpServer): boolean {
  return server.child !== undefined && server.ended === undefined;
}

/** The lines a server wrote to its log since offset. */
async function logSince(path: string, offset: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    await file.read(buffer, 0, buffer.length, offset);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

/** The last line of what a failed server printed: main.ts's one-sentence error. */
function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  const error = lines.reverse().find((l) => l.startsWith('lanfs: '));
  return (error ?? lines[0] ?? '').replace(/^lanfs: /, '').trim();
}

export async function up(
  ctx: CliContext,
  options: UpOptions,
  onFailover: (line: string) => void = (line) => void process.stderr.write(`${line}\n`),
): Promise<void> {
  const count = parsePositiveInt(options.servers, '--servers');
  if (count > 16) throw new ConfigError('lanfs up runs at most 16 servers on one machine.');
  const basePort = parsePositiveInt(options.port, '--port', true);
  const baseHttpPort = parsePositiveInt(options.httpPort, '--http-port', true);
  const group = parseGroup(options.group);
  const dataRoot = resolve(options.data);
  await mkdir(dataRoot, { recursive: true });
  // Before anything else: a second `lanfs up` on this folder stops here with one sentence.
  const lock = await lockDataFolder(dataRoot, { address: '' });
  const stopping = new AbortController();
  const onSignal = (): void => stopping.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const servers: UpServer[] = [];
  const stop = async (server: UpServer, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const child = server.child;
    if (!child || !running(server)) return;
    server.ended = signal === 'SIGTERM' ? 'stopped (SIGTERM)' : 'killed (SIGKILL)';
    child.kill(signal);
    // A frozen process acts on SIGTERM only once it runs again.
    if (server.frozen) child.kill('SIGCONT');
    server.frozen = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await server.exited;
    clearTimeout(timer);
  };
  let say = (line: string): void => print(ctx, line);
  /** The shell, once it runs: how to print above its prompt and move off a gone server. */
  let shell: ShellHooks | undefined;
  try {
    const key = await loadOrMakeKey(dataRoot);
    const keyFile = join(dataRoot, 'key');
    for (let id = 1; id <= count; id++) {
      servers.push({
        id,
        dir: join(dataRoot, `server-${id}`),
        log: join(dataRoot, `server-${id}.log`),
        port: basePort === 0 ? 0 : basePort + id - 1,
        httpPort: baseHttpPort === 0 ? 0 : baseHttpPort + id - 1,
      });
    }

    const start = async (server: UpServer): Promise<void> => {
      const attempt = async (port: number, httpPort: number): Promise<string | undefined> => {
        const fd = openSync(server.log, 'a');
        const offset = (await stat(server.log)).size;
        let child: ChildProcess;
        try {
          child = spawn(
            process.execPath,
            [
              LANFS_BIN,
              'server',
              '--data',
              server.dir,
              '--id',
              String(server.id),
              '--host',
              '127.0.0.1',
              '--port',
              String(port),
              '--http-port',
              String(httpPort),
              '--group',
              `${group.address}:${group.port}`,
              '--interface',
              '127.0.0.1',
              '--key-file',
              keyFile,
              '--cluster',
              'lanfs',
              // A cluster on one machine for trying things: the shell's cut, heal and slow-disk.
              '--allow-faults',
            ],
            {
              // Its own process group: a Ctrl-C typed at the shell is not for the servers.
              // The IPC channel is how it knows up is gone (main.ts).
              detached: true,
              stdio: ['ignore', fd, fd, 'ipc'],
              env: serverEnv(),
            },
          );
        } finally {
          closeSync(fd);
        }
        server.child = child;
        server.ended = undefined;
        server.exited = new Promise<void>((resolveExit) => {
          child.once('exit', (code, signal) => {
            const expected = server.ended !== undefined;
            server.ended ??= signal ? `ended by ${signal}` : `exited with code ${code}`;
            if (!expected && server.address !== undefined) {
              say(
                `Server ${server.id} (pid ${child.pid}) ${server.ended}; its output is in ${server.log}. "start ${server.id}" starts it again.`,
              );
              void shell?.checkServer();
            }
            resolveExit();
          });
        });
        child.on('error', () => undefined);
        const deadline = Date.now() + START_TIMEOUT_MS;
        for (let polls = 0; Date.now() < deadline; polls++) {
          const text = await logSince(server.log, offset);
          const serving = / on ([\d.]+):(\d+)/.exec(text);
          const dashboard = /Dashboard: http:\/\/([\d.]+:\d+)\//.exec(text);
          if (serving && dashboard) {
            server.port = Number(serving[2]);
            server.address = `127.0.0.1:${server.port}`;
            server.httpAddress = dashboard[1];
            server.httpPort = Number(dashboard[1]!.split(':')[1]);
            return undefined;
          }
          if (server.ended !== undefined) return lastLine(await logSince(server.log, offset));
          await new Promise((r) => setTimeout(r, START_POLL_MS));
        }
        server.ended = 'stopped';
        child.kill('SIGKILL');
        await server.exited;
        return `it did not start within ${START_TIMEOUT_MS / 1000} s`;
      };
      // A port taken by another program: that one (only) becomes any free port, and the banner says so.
      let port = server.port;
      let httpPort = server.httpPort;
      const taken: string[] = [];
      let failure = await attempt(port, httpPort);
      for (let tries = 0; failure !== undefined && tries < 2; tries++) {
        if (/^HTTP port \d+ is already in use/.test(failure) && httpPort !== 0) {
          taken.push(`dashboard port ${httpPort}`);
          httpPort = 0;
        } else if (/^Port \d+ is already in use/.test(failure) && port !== 0) {
          taken.push(`port ${port}`);
          port = 0;
        } else break;
        failure = await attempt(port, httpPort);
      }
      if (failure !== undefined)
        throw new ConfigError(`Server ${server.id} did not start: ${failure} (${server.log}).`);
      if (taken.length > 0)
        server.moved = `${taken.join(' and ')} ${taken.length === 1 ? 'was' : 'were'} in use; server ${server.id} listens on ${server.address}, dashboard http://${server.httpAddress}/.`;
    };

    for (const server of servers) {
      if (stopping.signal.aborted) return;
      await start(server);
    }
    await lock.setAddress(servers.map((s) => s.address).join(','));

    const stoppedLine = (server: UpServer, how: string): string =>
      servers.some(running)
        ? `Server ${server.id} ${how}; the others mark it down within seconds. "start ${server.id}" brings it back.`
        : `Server ${server.id} ${how}; no server of this machine runs now: "start N" starts one again.`;
    const serverOf = (args: string[], command: string): UpServer => {
      if (args.length !== 1) throw new UsageError(`Give one server: ${command} N.`);
      const id = parsePositiveInt(args[0]!, 'The server');
      const server = servers[id - 1];
      if (!server)
        throw new UsageError(
          `There is no server ${id} here; the servers are 1 to ${count} ("servers" lists them).`,
        );
      return server;
    };
    /** A client of its own for one fault command (the shell's may be on a frozen server). */
    const withClient = async (run: (client: LanfsClient) => Promise<string>): Promise<void> => {
      const client = await LanfsClient.connect({
        servers: servers.filter((s) => running(s) && !s.frozen).map((s) => s.address!),
        credentials: { key, insecure: false, cluster: 'lanfs' },
      });
      try {
        print(ctx, await run(client));
      } finally {
        client.close();
      }
    };
    const twoServers = (args: string[], command: string): [UpServer, UpServer] => {
      if (args.length !== 2) throw new UsageError(`Give two servers: ${command} A B.`);
      return [serverOf([args[0]!], command), serverOf([args[1]!], command)];
    };
    const commands: Record<string, ShellCommand> = {
      servers: {
        usage: 'servers',
        description: 'the servers of this machine: pid, address, up or stopped',
        run: () => {
          const rows = [['SERVER', 'PID', 'ADDRESS', 'DASHBOARD', 'STATE']];
          for (const s of servers)
            rows.push([
              String(s.id),
              running(s) ? String(s.child!.pid) : '-',
              s.address ?? '-',
              s.httpAddress ? `http://${s.httpAddress}/` : '-',
              running(s) ? 'up' : `down, ${s.ended ?? 'not started'}`,
            ]);
          print(ctx, table(rows));
        },
      },
      stop: {
        usage: 'stop N',
        description: 'stop server N (SIGTERM), to watch the others carry on',
        run: async (args) => {
          const server = serverOf(args, 'stop');
          if (!running(server)) throw new UsageError(`Server ${server.id} is not running.`);
          await stop(server, 'SIGTERM');
          print(ctx, stoppedLine(server, 'stopped'));
          await shell?.checkServer();
        },
      },
      kill: {
        usage: 'kill N',
        description: 'kill server N (SIGKILL), as if its machine lost power',
        run: async (args) => {
          const server = serverOf(args, 'kill');
          if (!running(server)) throw new UsageError(`Server ${server.id} is not running.`);
          await stop(server, 'SIGKILL');
          print(ctx, stoppedLine(server, 'killed'));
          await shell?.checkServer();
        },
      },
      freeze: {
        usage: 'freeze N',
        description:
          'freeze server N (SIGSTOP): alive but silent, as a hung machine; "cont N" resumes it',
        run: (args) => {
          const server = serverOf(args, 'freeze');
          if (!running(server)) throw new UsageError(`Server ${server.id} is not running.`);
          server.child!.kill('SIGSTOP');
          server.frozen = true;
          print(
            ctx,
            `Server ${server.id} is frozen (SIGSTOP): the others mark it down within seconds. "cont ${server.id}" resumes it.`,
          );
        },
      },
      cont: {
        usage: 'cont N',
        description: 'resume server N after "freeze N" or "lanfs fault stop" (SIGCONT)',
        run: (args) => {
          const server = serverOf(args, 'cont');
          if (!running(server)) throw new UsageError(`Server ${server.id} is not running.`);
          server.child!.kill('SIGCONT');
          server.frozen = false;
          print(ctx, `Server ${server.id} runs again; the others see it up within seconds.`);
        },
      },
      cut: {
        usage: 'cut A B',
        description:
          'cut servers A and B apart: each drops its links with the other ("heal" joins them)',
        run: async (args) => {
          const [a, b] = twoServers(args, 'cut');
          await withClient((client) => cutServers(client, a.id, b.id));
        },
      },
      heal: {
        usage: 'heal',
        description: 'remove every cut and slow disk',
        run: async () => await withClient((client) => healAll(client)),
      },
      'slow-disk': {
        usage: 'slow-disk N MS',
        description: "make server N's disk slow: every read and new upload waits MS (0: normal)",
        run: async (args) => {
          if (args.length !== 2) throw new UsageError('Write it as: slow-disk N MS.');
          const server = serverOf([args[0]!], 'slow-disk');
          const ms = parsePositiveInt(args[1]!, 'The delay (ms)', true);
          await withClient(async (client) =>
            slowSentence(await client.fault(server.id, { action: 'slow-disk', ms }), ms),
          );
        },
      },
      start: {
        usage: 'start N',
        description: 'start server N again (it catches up with what changed meanwhile)',
        run: async (args) => {
          const server = serverOf(args, 'start');
          if (running(server))
            throw new UsageError(
              `Server ${server.id} is running (pid ${server.child!.pid}); "stop ${server.id}" or "kill ${server.id}" first.`,
            );
          await start(server);
          print(
            ctx,
            `Server ${server.id} is up at ${server.address} (pid ${server.child!.pid}); it catches up with what changed while it was down.`,
          );
        },
      },
    };

    const addresses = servers.map((s) => s.address!);
    const replicas = Math.min(2, count);
    const banner = [
      `lanfs is up: ${count} server${count === 1 ? '' : 's'} on this machine, each its own process, found by each other over multicast on loopback.`,
      'Each exports its own folder; together they show one list of every file. What you create is',
      replicas > 1
        ? `stored on the server this shell is connected to, and a copy on another one (${replicas} copies of each file).`
        : 'stored on the server this shell is connected to; the others list it too.',
      ...servers.map(
        (s) =>
          `  server ${s.id}  ${s.address}  pid ${s.child!.pid}  dashboard http://${s.httpAddress}/  data in ${s.dir}`,
      ),
      ...servers.flatMap((s) => (s.moved ? [`  (${s.moved})`] : [])),
      `Server output: ${join(dataRoot, 'server-N.log')}. Here, "stop N", "kill N" and "start N" stop and start one server;`,
      '"freeze N"/"cont N", "cut A B", "slow-disk N MS" and "heal" make faults ("help" lists them).',
      '',
      'To use this cluster from another terminal, in any folder, while this one runs:',
      `  alias lanfs='"${process.execPath}" "${LANFS_BIN}"'`,
      `  export LANFS_SERVER=${addresses.join(',')} LANFS_KEY=$(cat ${keyFile})`,
      '  lanfs show        # or: lanfs shell',
      'or, to find them by multicast instead of LANFS_SERVER:',
      `  export LANFS_INTERFACE=127.0.0.1 LANFS_GROUP=${group.address}:${group.port} LANFS_KEY=$(cat ${keyFile})`,
      `The dashboards (links above) ask for the key once: it is in ${keyFile}.`,
      '',
    ].join('\n');
    await runShell({
      client: {
        servers: addresses,
        credentials: {
          key,
          insecure: false,
          cluster: 'lanfs',
          keySource: `the key file ${keyFile}`,
        },
        onFailover,
        noServerHint: `every server of this machine is down; "start N" starts one again ("servers" lists them).`,
      },
      banner,
      extraCommands: commands,
      signal: stopping.signal,
      onReady: (hooks) => {
        shell = hooks;
        say = hooks.say;
      },
    });
    shell = undefined;
    say = (line) => print(ctx, line);
  } finally {
    // Also after a failed start or a signal: nothing keeps running after up.
    await Promise.all(servers.map((s) => stop(s, 'SIGTERM')));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await lock.release();
    const started = servers.filter((s) => s.child !== undefined).length;
    if (started > 0)
      print(
        ctx,
        `Stopped ${started} server${started === 1 ? '' : 's'}; your files stay in ${dataRoot}.`,
      );
  }
}
