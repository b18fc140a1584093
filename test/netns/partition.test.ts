/**
 * Partitions (docs/RELIABILITY.md, B4), one server per network namespace on a
 * bridge, cuts made with nftables rules inside the namespaces. The rule under
 * test (docs/ARCHITECTURE.md "Partitions"): both sides keep serving what they
 * hold and accept writes; after the heal every server shows the same image, no
 * acknowledged bytes are lost (a name written on both sides, or one file edited
 * on both, keeps the loser's bytes as a conflict copy), an edit beats a delete,
 * a delete never comes back otherwise, and every file is at its copies again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cut, heal, partition } from '../harness/netns.ts';
import { sha256, startNetnsCluster, type ListedFile, type NetnsCluster } from './netns-cluster.ts';

/** Every acknowledged version's bytes are under some name of the image, and readable there. */
async function assertNothingLost(
  c: NetnsCluster,
  image: ListedFile[],
  acknowledged: string[],
): Promise<void> {
  for (const bytes of acknowledged) {
    const held = image.find((f) => f.sha256 === sha256(bytes));
    assert.ok(held, `acknowledged bytes ${JSON.stringify(bytes)} are in the image`);
    assert.equal(await c.read(0, held.name), bytes, `${held.name} reads back`);
  }
}

function names(image: ListedFile[]): string[] {
  return image.map((f) => f.name);
}

test(
  'partition - 3 servers, a minority cut off: both sides serve and write; healed, one image, nothing lost, no delete back',
  { timeout: 90_000 },
  async (t) => {
    const c = await startNetnsCluster(t, 3, 2);
    await c.waitMembership([0, 1, 2], [0, 1, 2]);
    // Created on server 3, so both sides of the cut below hold a copy of each.
    const before = ['both-edit.txt', 'edit-twice.txt', 'edit-vs-delete.txt', 'gone-a.txt'];
    for (const name of before) await c.create(2, name, `${name} v1\n`);
    await c.create(2, 'gone-b.txt', 'gone-b v1\n');
    await c.create(0, 'quiet.txt', 'quiet v1\n');
    await c.converge();

    await partition([c.hosts[2]!], [c.hosts[0]!, c.hosts[1]!]);
    await c.waitMembership([0, 1], [0, 1]);
    await c.waitMembership([2], [2]);

    // Reads of what each side holds.
    assert.equal(await c.read(2, 'both-edit.txt'), 'both-edit.txt v1\n');
    assert.equal(await c.read(0, 'both-edit.txt'), 'both-edit.txt v1\n');

    const acknowledged: string[] = ['quiet v1\n'];
    const write = async (i: number, what: Promise<{ code: number | null; stderr: string }>) => {
      const result = await what;
      assert.equal(result.code, 0, `on server ${i + 1}: ${result.stderr}`);
    };
    // Side A (servers 1, 2) and side B (server 3) each edit, create, delete.
    await write(0, c.edit(0, 'both-edit.txt', 'both-edit A\n'));
    await write(2, c.edit(2, 'both-edit.txt', 'both-edit B\n'));
    await write(0, c.edit(0, 'edit-twice.txt', 'edit-twice A1\n'));
    await write(0, c.edit(0, 'edit-twice.txt', 'edit-twice A2\n'));
    await write(2, c.edit(2, 'edit-twice.txt', 'edit-twice B1\n'));
    await write(0, c.cli(0, ['delete', 'edit-vs-delete.txt']));
    await write(2, c.edit(2, 'edit-vs-delete.txt', 'edit-vs-delete B\n'));
    await write(0, c.cli(0, ['delete', 'gone-a.txt']));
    await write(2, c.cli(2, ['delete', 'gone-b.txt']));
    await c.create(0, 'new-same.txt', 'new-same A\n');
    await c.create(2, 'new-same.txt', 'new-same B\n');
    await c.create(1, 'new-a.txt', 'new-a\n');
    await c.create(2, 'new-b.txt', 'new-b\n');
    acknowledged.push(
      'both-edit A\n',
      'both-edit B\n',
      'edit-twice A2\n',
      'edit-twice B1\n',
      'edit-vs-delete B\n',
      'new-same A\n',
      'new-same B\n',
      'new-a\n',
      'new-b\n',
    );
    // Each side reads its own writes.
    assert.equal(await c.read(2, 'both-edit.txt'), 'both-edit B\n');
    assert.equal(await c.read(1, 'both-edit.txt'), 'both-edit A\n');

    await heal();
    await c.waitMembership([0, 1, 2], [0, 1, 2]);
    const image = await c.converge(30_000);
    await assertNothingLost(c, image, acknowledged);
    const shown = names(image);
    assert.ok(!shown.includes('gone-a.txt'), 'deleted on side A, not back');
    assert.ok(!shown.includes('gone-b.txt'), 'deleted on side B, not back');
    assert.ok(shown.includes('edit-vs-delete.txt'), 'the edit beats the delete');
    for (const name of ['both-edit.txt', 'edit-twice.txt', 'new-same.txt']) {
      const losers = image.filter((f) => f.conflictOf === name);
      assert.equal(losers.length, 1, `${name}: one conflict copy (${JSON.stringify(shown)})`);
    }
  },
);

test(
  'partition - 5 servers: a partial cut, a one-way cut, then a minority cut; each healed to one image',
  { timeout: 90_000 },
  async (t) => {
    const c = await startNetnsCluster(t, 5, 2);
    const all = [0, 1, 2, 3, 4];
    await c.waitMembership(all, all);
    await c.create(0, 'shared.txt', 'shared v1\n');
    await c.create(3, 'minority.txt', 'minority v1\n');
    await c.create(1, 'doomed.txt', 'doomed v1\n');
    // Only the latest acknowledged bytes of each name: shared v1 is edited below.
    const acknowledged: string[] = [];
    await c.converge();

    // The first file's copy went to server 2 (the placement rule: fewest files, then the lower id).
    const before = (await c.image(0)).find((f) => f.name === 'shared.txt');
    assert.deepEqual([before?.primary, before?.replicas], [1, [2]]);

    // Partial: 1 and 2 lose each other but both still see 3, 4 and 5. Each takes
    // itself for the acting primary of shared.txt and edits it: 1 once, 2 twice.
    await cut(c.hosts[0]!, c.hosts[1]!);
    await c.waitMembership([0], [0, 2, 3, 4]);
    await c.waitMembership([1], [1, 2, 3, 4]);
    await c.waitMembership([2, 3, 4], all);
    for (const [i, bytes] of [
      [0, 'shared edited on 1\n'],
      [1, 'shared edited on 2\n'],
      [1, 'shared edited on 2 again\n'],
    ] as const) {
      const edited = await c.edit(i, 'shared.txt', bytes);
      assert.equal(edited.code, 0, edited.stderr);
    }
    acknowledged.push('shared edited on 1\n');
    await c.create(0, 'partial-1.txt', 'partial from 1\n');
    await c.create(1, 'partial-2.txt', 'partial from 2\n');
    acknowledged.push('partial from 1\n', 'partial from 2\n');
    assert.equal(await c.read(1, 'shared.txt'), 'shared edited on 2 again\n');
    assert.equal(await c.read(0, 'shared.txt'), 'shared edited on 1\n');
    await heal();
    await c.waitMembership(all, all);
    await c.converge();

    // One way: what 1 sends to 2 is dropped, what 2 sends to 1 passes.
    await cut(c.hosts[0]!, c.hosts[1]!, { oneWay: true });
    await c.waitMembership([1], [1, 2, 3, 4]);
    await c.create(1, 'one-way.txt', 'one-way from 2\n');
    const edit = await c.edit(2, 'shared.txt', 'shared v2 from 3\n');
    assert.equal(edit.code, 0, edit.stderr);
    acknowledged.push('one-way from 2\n', 'shared v2 from 3\n');
    await heal();
    await c.waitMembership(all, all);
    await c.converge();

    // Minority: 4 and 5 cut from 1, 2 and 3; both sides write.
    const minority = [c.hosts[3]!, c.hosts[4]!];
    await partition(minority, [c.hosts[0]!, c.hosts[1]!, c.hosts[2]!]);
    await c.waitMembership([3, 4], [3, 4]);
    await c.waitMembership([0, 1, 2], [0, 1, 2]);
    assert.equal(await c.read(3, 'minority.txt'), 'minority v1\n');
    const minorityEdit = await c.edit(3, 'minority.txt', 'minority v2\n');
    assert.equal(minorityEdit.code, 0, minorityEdit.stderr);
    const gone = await c.cli(0, ['delete', 'doomed.txt']);
    assert.equal(gone.code, 0, gone.stderr);
    await c.create(4, 'from-minority.txt', 'from the minority\n');
    await c.create(2, 'from-majority.txt', 'from the majority\n');
    acknowledged.push('minority v2\n', 'from the minority\n', 'from the majority\n');
    await heal();
    await c.waitMembership(all, all);
    const image = await c.converge(30_000);
    await assertNothingLost(c, image, acknowledged);
    assert.ok(!names(image).includes('doomed.txt'), 'the delete holds');
  },
);
