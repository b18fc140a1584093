/**
 * The interactive side as a person uses it, through a pipe: `lanfs shell` runs
 * commands in its own words, survives its server dying (one line says so), and
 * with no server left keeps trying and says once, above its prompt, when one is
 * back; `lanfs up` runs each server as a process of its own that can be stopped,
 * killed and started again, none of them outliving up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  cleanEnv,
  LANFS_BIN,
  runCli,
  startInteractive,
  uniqueGroup,
  type Cleanup,
  type InteractiveCli,
  type ServerProcess,
} from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const PROMPT = 'lanfs> ';

/** Whether a process runs (a zombie waiting for its parent's wait() does not). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** Types a line and waits for the output it leads to (and the prompt after it). */
async function run(shell: InteractiveCli, line: string, expect?: RegExp): Promise<string> {
  const from = shell.stdout().length;
  shell.send(line);
  const done = await shell.waitFor(new RegExp(`${expect ? expect.source : ''}[^]*?${PROMPT}`), {
    from,
  });
  return shell.stdout().slice(from, from + done.index + done[0].length);
}

const KEY = 'shell-test-key';

test(
  'shell - keeps its session across a failover, and tells when a server is back',
  { timeout: 60_000 },
  async (t) => {
    const cluster = await startCluster(t, 2, { key: KEY });
    const [one, two] = cluster.servers as [ServerProcess, ServerProcess];
    const home = await tempDir(t);
    const shell = spawn(process.execPath, [LANFS_BIN, 'shell'], {
      env: cleanEnv(cluster.env(undefined, { LANFS_HISTORY_FILE: `${home}/history` })),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    onCleanup(t, () => shell.kill('SIGKILL'));
    let out = '';
    let err = '';
    shell.stdout.on('data', (c: Buffer) => (out += c.toString()));
    shell.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const type = (line: string): void => void shell.stdin.write(`${line}\n`);

    await waitFor(
      'the greeting',
      () => out,
      (o) => o.includes('Connected to server 1'),
    );
    type('create kept.txt --from /etc/hostname');
    await waitFor(
      'the create',
      () => out,
      (o) => o.includes('Created kept.txt'),
    );
    await waitFor(
      'the copy on server 2',
      () => {
        type('status --json');
        return out;
      },
      (o) => /"files": 1[\s\S]*"files": 1/.test(o),
      { intervalMs: 500 },
    );

    await one.kill9();
    type('show');
    await waitFor(
      'a failover line and the listing',
      () => err + out,
      () =>
        /stopped answering[^\n]*continuing on server 2/.test(err + out) &&
        /kept\.txt[\s\S]*kept\.txt/.test(out),
    );

    await two.kill9();
    type('show');
    await waitFor(
      'no server, and retrying',
      () => err,
      (e) => e.includes('the shell keeps trying'),
      { timeoutMs: 20_000 },
    );
    // Back at the address the shell knows.
    await cluster.restart(1, { port: two.port });
    await waitFor(
      'told that a server is back',
      () => out,
      (o) => o.includes('Server 2 is back'),
      { timeoutMs: 20_000 },
    );
    type('bye');
    const code = await new Promise<number | null>((resolve) => shell.once('exit', resolve));
    assert.equal(code, 0, err);
  },
);

test("shell - hints, usage and help speak the shell's words; clear is a command", async (t) => {
  const cluster = await startCluster(t, 1);
  const home = await tempDir(t);
  const shell = startInteractive(t, ['shell'], {
    env: cluster.env(0, { LANFS_HISTORY_FILE: join(home, 'history') }),
    cwd: home,
  });
  await shell.waitFor(/lanfs> /);

  assert.match(await run(shell, 'show'), /No files yet\. Add one with: create NAME --from PATH/);
  assert.doesNotMatch(shell.stdout(), /lanfs create/);

  let errFrom = shell.stderr().length;
  await run(shell, 'download nope.txt');
  await shell.waitFor(/No file named "nope.txt"/, { stream: 'stderr', from: errFrom });
  assert.match(shell.stderr().slice(errFrom), /run "show" to list the files/);

  errFrom = shell.stderr().length;
  await run(shell, 'create');
  await shell.waitFor(/missing required argument/, { stream: 'stderr', from: errFrom });
  assert.match(shell.stderr().slice(errFrom), /\(type "help create" for its usage\)/);
  assert.doesNotMatch(shell.stderr(), /--help/);

  const help = await run(shell, 'help create', /Usage: create \[options\] <name>/);
  assert.match(help, /--from <path>/);
  assert.match(await run(shell, 'create --help'), /Usage: create \[options\] <name>/);
  assert.match(await run(shell, 'help'), /clear\s+clear the screen/);
  assert.match(await run(shell, 'help clear'), /Usage: clear/);

  errFrom = shell.stderr().length;
  await run(shell, 'clear');
  assert.equal(shell.stderr().slice(errFrom), '', 'clear is a shell command, not an error');
  assert.doesNotMatch(shell.stdout(), /Usage: lanfs/);

  shell.send('bye');
  assert.equal(await shell.exited, 0);
});

test('shell - with every server down, the one coming back is announced once, above the prompt', async (t) => {
  const cluster = await startCluster(t, 1);
  const home = await tempDir(t);
  const port = cluster.servers[0]!.port;
  const shell = startInteractive(t, ['shell'], {
    env: cluster.env(0, { LANFS_HISTORY_FILE: join(home, 'history') }),
    cwd: home,
  });
  await shell.waitFor(/lanfs> /);
  await cluster.stop(0);
  const errFrom = shell.stderr().length;
  await run(shell, 'show');
  await shell.waitFor(/keeps trying/, { stream: 'stderr', from: errFrom });

  const outFrom = shell.stdout().length;
  await cluster.restart(0, { port });
  const back = await shell.waitFor(/\n(Server 1 is back; connected to it at [\d.:]+\.)\nlanfs> /, {
    from: outFrom,
  });
  assert.match(back[1]!, new RegExp(`127\\.0\\.0\\.1:${port}`));
  // Commands work again, and the news was told once, in one sentence.
  assert.match(await run(shell, 'status'), /1\s+127\.0\.0\.1:\d+\s+up/);
  const news = `${shell.stdout()}\n${shell.stderr()}`;
  assert.equal(news.match(/is back;/g)?.length, 1, news);
  assert.doesNotMatch(news, /stopped answering/);
  shell.send('bye');
  assert.equal(await shell.exited, 0);
});

/** Starts lanfs up in a temp folder on a group and free ports of its own; its servers are killed at the end. */
async function startUp(
  t: Cleanup,
  servers: number,
  ports = ['--port', '0', '--http-port', '0'],
): Promise<{ up: InteractiveCli; home: string; pids: Map<number, number>; group: string }> {
  const home = await tempDir(t);
  const group = uniqueGroup();
  const pids = new Map<number, number>();
  onCleanup(t, () => {
    // Whatever a failure left running: no test leaves a process behind.
    for (const pid of pids.values()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const up = startInteractive(t, ['up', '--servers', String(servers), '--group', group, ...ports], {
    env: { LANFS_HISTORY_FILE: join(home, 'history') },
    cwd: home,
  });
  await up.waitFor(/lanfs> /, { timeoutMs: 60_000 });
  for (const match of up.stdout().matchAll(/ {2}server (\d+) {2}\S+ {2}pid (\d+) /g))
    pids.set(Number(match[1]), Number(match[2]));
  assert.equal(pids.size, servers, up.stdout());
  return { up, home, pids, group };
}

test('up - each server is a process of its own: servers, kill N, start N, stop N; bye stops them all', async (t) => {
  const { up, home, pids } = await startUp(t, 3);
  const banner = up.stdout();
  // A command that works from any folder (npx would ask the npm registry there).
  assert.ok(banner.includes(`alias lanfs='"${process.execPath}" "${LANFS_BIN}"'`), banner);
  assert.doesNotMatch(banner, /npx lanfs/);
  assert.match(banner, /a copy on another one \(2 copies of each file\)/);
  for (const id of [1, 2, 3]) {
    assert.ok(await alive(pids.get(id)!), `server ${id} runs`);
    assert.match(await readFile(join(home, 'lanfs-data', `server-${id}.log`), 'utf8'), /serving/);
  }
  const pidColumn = (id: number) =>
    new RegExp(`\\n${id}\\s+${pids.get(id)}\\s+127\\.0\\.0\\.1:\\d+`);
  let listing = await run(up, 'servers', /SERVER\s+PID\s+ADDRESS/);
  for (const id of [1, 2, 3]) assert.match(listing, pidColumn(id));

  await run(up, 'kill 2', /Server 2 killed/);
  assert.equal(await alive(pids.get(2)!), false);
  listing = await run(up, 'servers', /SERVER/);
  assert.match(listing, /\n2\s+-\s+127\.0\.0\.1:\d+\s+\S+\s+down, killed \(SIGKILL\)/);

  const started = await run(up, 'start 2', /Server 2 is up at [\d.:]+ \(pid (\d+)\)/);
  const newPid = Number(/\(pid (\d+)\)/.exec(started)![1]);
  pids.set(4, newPid); // cleaned up too
  assert.ok(await alive(newPid));

  await run(up, 'stop 3', /Server 3 stopped/);
  assert.equal(await alive(pids.get(3)!), false);
  const errFrom = up.stderr().length;
  up.send('start 2');
  await up.waitFor(/Server 2 is running/, { stream: 'stderr', from: errFrom });

  up.send('bye');
  assert.equal(await up.exited, 0, up.stderr());
  assert.match(up.stdout(), /Stopped 3 servers/);
  for (const pid of [pids.get(1)!, newPid]) assert.equal(await alive(pid), false);
  assert.equal(existsSync(join(home, 'lanfs-data', '.lanfs', 'lock')), false, 'lock released');
});

test('up - a second up on the folder exits 2 naming the first; SIGTERM stops every server', async (t) => {
  const { up, home, pids, group } = await startUp(t, 2);
  const second = await runCli(['up', '--servers', '1', '--group', group, '--port', '0'], {
    cwd: home,
  });
  assert.equal(second.code, 2, second.stderr);
  assert.match(
    second.stderr,
    new RegExp(`^lanfs: .*lanfs-data is in use by lanfs process ${up.child.pid}`),
  );
  assert.equal(second.stderr.trim().split('\n').length, 1, 'one sentence, no stack');

  up.child.kill('SIGTERM');
  assert.equal(await up.exited, 0, up.stderr());
  for (const pid of pids.values()) assert.equal(await alive(pid), false);
});

test('up - its servers stop when up is killed with SIGKILL', async (t) => {
  const { up, pids } = await startUp(t, 2);
  up.child.kill('SIGKILL');
  await up.exited;
  await waitFor(
    'the servers of a killed up to stop',
    async () => await Promise.all([...pids.values()].map(alive)),
    (states) => states.every((a) => !a),
    { timeoutMs: 20_000 },
  );
});

test("shell - --help is the shell's help; watch and servers say where they are; an editor left empty creates nothing", async (t) => {
  const cluster = await startCluster(t, 1);
  const home = await tempDir(t);
  // An editor that leaves the file as it found it, like quitting vi with :q!.
  const shell = startInteractive(t, ['shell'], {
    env: cluster.env(0, { LANFS_HISTORY_FILE: join(home, 'history'), EDITOR: 'true' }),
    cwd: home,
  });
  await shell.waitFor(/lanfs> /);

  const help = await run(shell, '--help', /Commands:/);
  assert.match(help, /bye\s+leave the shell/);
  assert.doesNotMatch(help, /Usage: \[options\]/);
  const createHelp = await run(shell, 'help create', /Usage: create/);
  assert.doesNotMatch(createHelp, /stdin/);
  assert.match(createHelp, /your editor/);

  let errFrom = shell.stderr().length;
  await run(shell, 'watch');
  await shell.waitFor(/"lanfs watch" in another terminal/, { stream: 'stderr', from: errFrom });
  errFrom = shell.stderr().length;
  await run(shell, 'servers');
  await shell.waitFor(/shell of "lanfs up"/, { stream: 'stderr', from: errFrom });
  assert.doesNotMatch(shell.stderr(), /unknown command/);

  const created = await run(shell, 'create a.txt', /Nothing written; a\.txt was not created/);
  assert.doesNotMatch(created, /Created/);
  assert.match(await run(shell, 'show'), /No files yet/);

  shell.send('bye');
  assert.equal(await shell.exited, 0, shell.stderr());
});

test('up - the banner finds the cluster by its group; a stopped server is left at once; with all down, what was tried and "start N"', async (t) => {
  const { up, home } = await startUp(t, 2);
  // The banner's multicast line, followed as written, reaches the cluster on up's own group.
  const line = /export LANFS_INTERFACE=(\S+) LANFS_GROUP=(\S+) LANFS_KEY=\$\(cat (\S+)\)/.exec(
    up.stdout(),
  );
  assert.ok(line, up.stdout());
  const key = (await readFile(line[3]!, 'utf8')).trim();
  const shown = await runCli(['show'], {
    cwd: home,
    env: { LANFS_INTERFACE: line[1], LANFS_GROUP: line[2], LANFS_KEY: key },
  });
  assert.equal(shown.code, 0, shown.stderr);

  // Stopping the server the shell is on moves the shell now, not at the next command.
  const stopped = await run(up, 'stop 1', /Server 1 stopped/);
  assert.match(stopped, /continuing on server 2/);
  const errFrom = up.stderr().length;
  await run(up, 'kill 2', /no server of this machine runs now: "start N" starts one again/);
  await run(up, 'show');
  const said = (
    await up.waitFor(/No lanfs server answered[^\n]*\n/, { stream: 'stderr', from: errFrom })
  )[0];
  assert.match(said, /\(tried 127\.0\.0\.1:\d+ \(/);
  assert.match(said, /"start N" starts one again/);
  assert.doesNotMatch(said, /tried none|"lanfs server"|--server/);
  up.send('bye');
  assert.equal(await up.exited, 0, up.stderr());
});

/** Listens on a port of 127.0.0.1 (0: any free one); closed when the test ends. */
async function holdPort(t: Cleanup, port = 0): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  onCleanup(t, () => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

test('up - a TCP port taken by another program: the banner says where server 1 went; its dashboard port stays', async (t) => {
  const taken = await holdPort(t);
  // A free port for the dashboard: held a moment to learn it, then let go for up.
  const probe = createServer();
  const httpPort = await new Promise<number>((resolve) =>
    probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
  );
  await new Promise((resolve) => probe.close(resolve));
  const { up } = await startUp(t, 1, ['--port', String(taken), '--http-port', String(httpPort)]);
  const banner = up.stdout();
  assert.match(
    banner,
    new RegExp(`port ${taken} was in use; server 1 listens on 127\\.0\\.0\\.1:\\d+`),
  );
  assert.match(
    banner,
    new RegExp(`server 1 {2}\\S+ {2}pid \\d+ {2}dashboard http://127\\.0\\.0\\.1:${httpPort}/`),
  );
  up.send('bye');
  assert.equal(await up.exited, 0, up.stderr());
});
