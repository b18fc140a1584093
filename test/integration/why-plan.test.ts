/**
 * `lanfs why` and `lanfs plan --without` on a real cluster of four servers with
 * two copies each: the placement rule replayed on the counts the creating server
 * saw, the holders and the acting primary as servers go down, the files a lost
 * server would leave short and where healing would put them, and the copy rate
 * measured once healing has copied something.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

interface Why {
  primary: number;
  atCreate: { candidates: { id: number; files: number }[]; chose: number[] } | null;
  holders: { id: number; up: boolean; role: string }[];
  actingPrimary: number | null;
  next: number[];
}
interface Plan {
  files: { name: string; left: number[]; copiesTo: number[]; lost: boolean }[];
  bytesToMove: number;
  rateBytesPerSecond: number | null;
  seconds: number | null;
}

const SIZE = 256 * 1024;

test(
  'why and plan - placement explained, holders and takeover, a plan without a server',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await startCluster(t, 4, {
      args: ['--replicas', '2', '--heal-after', '1500', '--peer-timeout', '1500'],
    });
    const cli = async (i: number, args: string[]) => {
      const result = await runCli(args, { env: cluster.env(i) });
      if (result.code !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    const json = async <T>(i: number, args: string[]): Promise<T> =>
      JSON.parse(await cli(i, [...args, '--json'])) as T;
    const files = async (i: number, id: number): Promise<number> =>
      (await json<{ servers: { id: number; files: number }[] }>(i, ['status'])).servers.find(
        (s) => s.id === id,
      )!.files;

    const local = join(await tempDir(t), 'bytes');
    await writeFile(local, Buffer.alloc(SIZE, 7));
    await cli(0, ['create', 'a.txt', '--from', local]);
    // Server 1 must count server 2's copy before the next create, or it would pick 2 again.
    await waitFor(
      'server 1 to count the copy on server 2',
      () => files(0, 2),
      (n) => n === 1,
    );
    await cli(0, ['create', 'b.txt', '--from', local]);

    const b = await json<Why>(0, ['why', 'b.txt']);
    assert.equal(b.primary, 1);
    assert.deepEqual(
      b.atCreate?.candidates.slice().sort((x, y) => x.id - y.id),
      [
        { id: 2, files: 1 },
        { id: 3, files: 0 },
        { id: 4, files: 0 },
      ],
    );
    assert.deepEqual(b.atCreate?.chose, [3]);
    assert.deepEqual(b.holders, [
      { id: 1, up: true, role: 'primary' },
      { id: 3, up: true, role: 'copy' },
    ]);
    assert.equal(b.actingPrimary, 1);
    assert.deepEqual(b.next, [3]);
    const text = await cli(0, ['why', 'b.txt']);
    assert.match(text, /server 2 held 1 file/);
    assert.match(text, /so the copies went to server 3/);
    assert.match(text, /If it goes: server 3 takes over/);

    // Losing server 3: b.txt keeps one copy (on 1); healing copies it to 4 (fewest files).
    const without3 = await json<Plan>(0, ['plan', '--without', '3']);
    assert.deepEqual(without3.files, [
      { name: 'b.txt', size: SIZE, left: [1], copiesTo: [4], lost: false },
    ]);
    assert.equal(without3.bytesToMove, SIZE);
    assert.equal(without3.rateBytesPerSecond, null, 'nothing healed yet: rate unknown');
    assert.match(await cli(0, ['plan', '--without', '3']), /time unknown/);
    // Losing server 1 (the primary of both): each file goes to the emptiest non-holder in turn.
    const without1 = await json<Plan>(0, ['plan', '--without', '1']);
    assert.deepEqual(
      without1.files.map((f) => [f.name, f.left, f.copiesTo]),
      [
        ['a.txt', [2], [4]],
        ['b.txt', [3], [2]],
      ],
    );
    assert.equal(without1.bytesToMove, 2 * SIZE);

    // Server 2 goes: a.txt is healed (by its primary, server 1) onto another server, which
    // measures a copy rate; why says the holders differ from the choice at create.
    await cluster.kill(1);
    const a = await waitFor(
      'a.txt healed away from server 2',
      () => json<Why>(0, ['why', 'a.txt']),
      (w) => w.holders.some((h) => h.role === 'copy' && h.id !== 2 && h.up),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(a.actingPrimary, 1);
    assert.match(await cli(0, ['why', 'a.txt']), /other servers than chosen then/);
    const measured = await json<Plan>(0, ['plan', '--without', '3']);
    assert.ok((measured.rateBytesPerSecond ?? 0) > 0, 'a copy rate measured by healing');
    assert.notEqual(measured.seconds, null);

    // Server 1 goes: server 3 acts for b.txt, and nobody is next.
    await cluster.kill(0);
    const b2 = await waitFor(
      'server 3 to act for b.txt',
      () => json<Why>(2, ['why', 'b.txt']),
      (w) => w.actingPrimary === 3,
      { timeoutMs: 20_000, intervalMs: 300 },
    );
    assert.ok(
      b2.holders.some((h) => h.id === 1 && !h.up),
      JSON.stringify(b2.holders),
    );
    assert.deepEqual(b2.next, []);
    assert.match(await cli(2, ['why', 'b.txt']), /Acting primary: server 3/);
  },
);
