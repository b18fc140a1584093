/**
 * Faults built in (issue 15): servers started with --allow-faults take `lanfs
 * fault` (kill, stop [--for], slow-disk, cut A B, heal) from key holders, and
 * status shows the faults in force; a server without the option refuses. `lanfs
 * up`'s shell freezes and resumes a server, cuts two apart, heals, slows a disk.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startInteractive, uniqueGroup, type InteractiveCli } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

interface Member {
  id: number;
  up: boolean;
  faults?: { slowDiskMs: number; cut: number[] };
}

/** The process state letter of /proc (R, S, T for stopped), or undefined when gone. */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(')') + 2)[0];
}

test(
  'fault - cut, heal, slow-disk, stop --for, kill; refused without --allow-faults',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await startCluster(t, 3, {
      args: (i) => ['--peer-timeout', '1500', ...(i < 2 ? ['--allow-faults'] : [])],
    });
    const cli = (i: number, args: string[]) => runCli(args, { env: cluster.env(i) });
    const members = async (i: number): Promise<Member[]> => {
      const result = await cli(i, ['status', '--json']);
      if (result.code !== 0) throw new Error(result.stderr);
      return (JSON.parse(result.stdout) as { servers: Member[] }).servers;
    };
    const own = async (i: number): Promise<Member> =>
      (await members(i)).find((m) => m.id === cluster.ids[i])!;
    const sees = (i: number, id: number, up: boolean) =>
      waitFor(
        `server ${cluster.ids[i]} to see server ${id} ${up ? 'up' : 'down'}`,
        () => members(i),
        (list) => list.find((m) => m.id === id)?.up === up,
        { timeoutMs: 20_000, intervalMs: 200 },
      );

    // Without --allow-faults: refused, saying how to allow them.
    const refused = await cli(0, ['fault', 'slow-disk', '100', '--on', '3']);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /start it with --allow-faults/);

    // cut 1 2: each sees the other down; server 3 still sees both; status shows the cut.
    const cut = await cli(0, ['fault', 'cut', '1', '2']);
    assert.equal(cut.code, 0, cut.stderr);
    assert.match(cut.stdout, /Servers 1 and 2 are cut apart/);
    await sees(0, 2, false);
    await sees(1, 1, false);
    assert.deepEqual((await own(0)).faults, { slowDiskMs: 0, cut: [2] });
    assert.deepEqual((await own(1)).faults, { slowDiskMs: 0, cut: [1] });
    assert.ok(
      (await members(2)).every((m) => m.up),
      'server 3 still sees both',
    );
    assert.match((await cli(0, ['status'])).stdout, /Faults in force: server 1: cut from 2/);

    // heal: they find each other again; no fault left.
    const heal = await cli(2, ['fault', 'heal']);
    assert.equal(heal.code, 0, heal.stderr);
    assert.match(heal.stdout, /Server 3 did not answer/);
    await sees(0, 2, true);
    await sees(1, 1, true);
    assert.equal((await own(0)).faults, undefined);

    // slow-disk on server 1: in force, reads still work; heal ends it.
    const local = join(await tempDir(t), 'a.txt');
    await writeFile(local, 'some bytes\n');
    assert.equal((await cli(0, ['create', 'a.txt', '--from', local])).code, 0);
    const slow = await cli(0, ['fault', 'slow-disk', '200']);
    assert.equal(slow.code, 0, slow.stderr);
    assert.deepEqual((await own(0)).faults, { slowDiskMs: 200, cut: [] });
    assert.equal((await cli(0, ['download', 'a.txt', '-o', '-'])).code, 0);
    assert.equal((await cli(0, ['fault', 'heal'])).code, 0);
    assert.equal((await own(0)).faults, undefined);

    // stop --for: server 2 freezes (seen down), then resumes by itself (seen up).
    const pid2 = cluster.servers[1]!.child.pid!;
    const stop = await cli(0, ['fault', 'stop', '--on', '2', '--for', '4000']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /Server 2 \(pid \d+\) is stopped \(SIGSTOP\) for 4000 ms/);
    await waitFor(
      'server 2 to be stopped',
      () => processState(pid2),
      (s) => s === 'T',
    );
    // (status asks every live server; one that is frozen answers late: watch the process.)
    await waitFor(
      'server 2 to resume by itself',
      () => processState(pid2),
      (s) => s !== 'T',
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    await sees(0, 2, true);

    // kill: the process ends at once, by SIGKILL.
    const kill = await cli(0, ['fault', 'kill', '--on', '2']);
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal(await cluster.servers[1]!.exited, null);
    assert.equal(cluster.servers[1]!.child.signalCode, 'SIGKILL');
  },
);

const PROMPT = 'lanfs> ';

async function run(shell: InteractiveCli, line: string, expect?: RegExp): Promise<string> {
  const from = shell.stdout().length;
  shell.send(line);
  const done = await shell.waitFor(new RegExp(`${expect ? expect.source : ''}[^]*?${PROMPT}`), {
    from,
  });
  return shell.stdout().slice(from, from + done.index + done[0].length);
}

test("up's shell - freeze and cont, cut and heal, slow-disk", { timeout: 120_000 }, async (t) => {
  const home = await tempDir(t);
  const pids = new Map<number, number>();
  onCleanup(t, () => {
    for (const pid of pids.values()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const up = startInteractive(
    t,
    ['up', '--servers', '3', '--group', uniqueGroup(), '--port', '0', '--http-port', '0'],
    { cwd: home },
  );
  await up.waitFor(/lanfs> /, { timeoutMs: 60_000 });
  for (const match of up.stdout().matchAll(/ {2}server (\d+) {2}\S+ {2}pid (\d+) /g))
    pids.set(Number(match[1]), Number(match[2]));
  assert.equal(pids.size, 3, up.stdout());
  const upOnOne = async (): Promise<Map<number, boolean>> => {
    const out = await run(up, 'status', /SERVER/);
    return new Map(
      [...out.matchAll(/\n\s*(\d+)\s+127\.0\.0\.1:\d+\s+(up|DOWN)/g)].map((m) => [
        Number(m[1]),
        m[2] === 'up',
      ]),
    );
  };

  await run(up, 'freeze 3', /Server 3 is frozen/);
  assert.equal(await processState(pids.get(3)!), 'T');
  await waitFor('server 3 seen down', upOnOne, (m) => m.get(3) === false, {
    timeoutMs: 20_000,
    intervalMs: 300,
  });
  await run(up, 'cont 3', /Server 3 runs again/);
  await waitFor('server 3 seen up', upOnOne, (m) => m.get(3) === true, {
    timeoutMs: 20_000,
    intervalMs: 300,
  });

  await run(up, 'cut 1 2', /Servers 1 and 2 are cut apart/);
  await waitFor('server 2 seen down from server 1', upOnOne, (m) => m.get(2) === false, {
    timeoutMs: 20_000,
    intervalMs: 300,
  });
  assert.match(await run(up, 'status'), /Faults in force: server 1: cut from 2/);
  await run(up, 'slow-disk 1 150', /Server 1's disk is slow now/);
  await run(up, 'heal', /Every fault is removed on servers 1, 2, 3/);
  await waitFor('server 2 seen up again', upOnOne, (m) => m.get(2) === true, {
    timeoutMs: 20_000,
    intervalMs: 300,
  });
  assert.doesNotMatch(await run(up, 'status'), /Faults in force/);
  up.send('bye');
  assert.equal(await up.exited, 0);
});
