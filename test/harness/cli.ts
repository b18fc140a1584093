/**
 * Runs the real `lanfs` executable (bin/lanfs.cjs on the compiled dist/) and
 * collects what it printed and its exit code; servers started this way are
 * stopped when the test ends, also on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';

/** Anything that runs clean-up at the end: a test's context, or node:test's after() for a suite. */
export interface Cleanup {
  after: (fn: () => unknown) => void;
}

export const LANFS_BIN = fileURLToPath(new URL('../../bin/lanfs.cjs', import.meta.url));
/** Upper bound for one CLI command in tests; generous, it only stops a hang. */
const CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run inside this network namespace (ip netns exec). */
  netns?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  cwd?: string;
}

/** An environment without the developer's own LANFS_* settings. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('LANFS_') && k !== 'EDITOR' && k !== 'VISUAL') env[k] = v;
  // Multicast stays on loopback in every test (the network rule), on a group of its own.
  return {
    ...env,
    LANFS_LOG_LEVEL: 'warn',
    LANFS_INTERFACE: '127.0.0.1',
    LANFS_GROUP: uniqueGroup(),
    ...extra,
  };
}

/** A multicast group and port no other test of this run uses (with high probability). */
export function uniqueGroup(): string {
  const r = (n: number): number => Math.floor(Math.random() * n);
  return `239.255.${1 + r(250)}.${1 + r(250)}:${20000 + r(40000)}`;
}

/** node, or node inside a network namespace (ip netns exec execs it: the PID is node's). */
function commandFor(netns: string | undefined): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, process.execPath]] : [process.execPath, []];
}

export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const [command, prefix] = commandFor(options.netns);
  const child = spawn(command, [...prefix, LANFS_BIN, ...args], {
    env: cleanEnv(options.env),
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => stdout.push(c));
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) =>
    child.once('close', (c) => resolve(c)),
  );
  clearTimeout(timer);
  return {
    code,
    stdout: Buffer.concat(stdout).toString(),
    stderr: Buffer.concat(stderr).toString(),
  };
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** The HTTP port, when started with --http-port. */
  httpPort: number | undefined;
  address: string;
  /** Everything the server printed on stderr so far (its log). */
  log: () => string;
  stop: () => Promise<void>;
  kill9: () => Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Starts `lanfs server` and waits for its "serving" line. Unless args say
 * otherwise it listens on 127.0.0.1, a free port, and multicasts on loopback
 * only, on a group of its own (the network rule).
 */
export async function startServer(
  t: Cleanup,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  netns?: string,
): Promise<ServerProcess> {
  const defaults = ['--host', '127.0.0.1', '--port', '0'];
  if (!args.includes('--interface')) defaults.push('--interface', '127.0.0.1');
  if (!args.includes('--group')) defaults.push('--group', uniqueGroup());
  const [command, prefix] = commandFor(netns);
  const child = spawn(command, [...prefix, LANFS_BIN, 'server', ...defaults, ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let host = '127.0.0.1';
  let httpPort: number | undefined;
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  onCleanup(t, () => stop('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 20_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const match = / on ([\d.]+):(\d+)/.exec(out);
      const dashboard = /Dashboard: http:\/\/[\d.]+:(\d+)\//.exec(out);
      if (dashboard) httpPort = Number(dashboard[1]);
      if (match && (!args.includes('--http-port') || dashboard)) {
        clearTimeout(timer);
        host = match[1] === '0.0.0.0' ? '127.0.0.1' : match[1]!;
        resolve(Number(match[2]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
  return {
    child,
    port,
    address: `${host}:${port}`,
    httpPort,
    log: () => err,
    stop: () => stop('SIGTERM'),
    kill9: () => stop('SIGKILL'),
    exited,
  };
}

/**
 * Clean-up for a describe() block: call inside describe (not in a hook); what is
 * registered on it runs in the suite's after hook, last registered first.
 */
export function suiteCleanup(after: (fn: () => Promise<void>) => void): Cleanup {
  const tasks: (() => unknown)[] = [];
  after(async () => {
    for (const task of tasks.reverse()) await task();
  });
  return { after: (fn) => tasks.push(fn) };
}

/** A lanfs command that reads lines (the shell, lanfs up), driven line by line. */
export interface InteractiveCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Types a line. */
  send: (line: string) => void;
  /** Waits until what the stream printed after `from` characters matches re. */
  waitFor: (
    re: RegExp,
    options?: { from?: number; stream?: 'stdout' | 'stderr'; timeoutMs?: number },
  ) => Promise<RegExpExecArray>;
  exited: Promise<number | null>;
}

/** Starts `lanfs ARGS` with stdin a pipe; it is killed when the test ends, also on failure. */
export function startInteractive(
  t: Cleanup,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): InteractiveCli {
  const child = spawn(process.execPath, [LANFS_BIN, ...args], {
    env: cleanEnv(options.env),
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.on('error', () => undefined);
  let closed = false;
  // 'close', not 'exit': everything it printed has been read by then.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (c) => {
      closed = true;
      resolve(c);
    }),
  );
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    send: (line) => void child.stdin.write(`${line}\n`),
    waitFor: async (re, { from = 0, stream = 'stdout', timeoutMs = 30_000 } = {}) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const match = re.exec((stream === 'stdout' ? out : err).slice(from));
        if (match) return match;
        if (closed) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `lanfs ${args[0]} did not print ${re} on ${stream}; stdout: ${out}\nstderr: ${err}`,
      );
    },
    exited,
  };
}
