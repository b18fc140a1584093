/**
 * Issue 16's stalled join: a full copy of a member's records cut off midway (its link
 * dropped, or replaced when both sides dialed at once) left the joining server with
 * part of the records and the member's version, which the next link's heartbeats then
 * matched: it never asked again. Two real meshes on loopback (records-member.ts): the
 * link is cut while the first page of the copy is applied, healed at once, and the
 * joining member must then hold every record.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onCleanup } from '../harness/cleanup.ts';
import { TEST_KEY } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';
import { startRecordsMember } from './records-member.ts';

/** Several steps and pages of a full copy (about 2,500 records a page). */
const COUNT = 20_000;

test('a full copy cut off after its first page is asked for again in full on the next link', async (t) => {
  const holder = await startRecordsMember(t, { id: 7, count: COUNT, key: TEST_KEY });
  const joiner = await startRecordsMember(t, { id: 8, count: 0, key: TEST_KEY });
  let cutAt: number | undefined;
  joiner.view.onNameChange(() => {
    if (cutAt !== undefined) return;
    // Inside the first page's apply: the rest of the copy is never read on this link.
    cutAt = joiner.view.member(holder.id)?.records.size;
    joiner.mesh.cut([holder.id]);
    const heal = setTimeout(() => joiner.mesh.heal(), 0);
    onCleanup(t, () => clearTimeout(heal));
  });
  joiner.mesh.addSeed(holder.address);

  const held = (): number => joiner.view.member(holder.id)?.records.size ?? 0;
  await waitFor(
    'the link to be cut during the copy',
    () => cutAt,
    (n) => n !== undefined,
  );
  assert.ok(cutAt! > 0 && cutAt! < COUNT, `cut with ${cutAt} of ${COUNT} records held`);
  await waitFor('the joiner to hold every record after the cut', held, (n) => n === COUNT, {
    timeoutMs: 30_000,
  });
  assert.ok(joiner.view.heldVersion(holder.id), 'the whole copy held: a sync may name its version');
});
