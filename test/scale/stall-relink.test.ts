/**
 * A server whose event loop stood still longer than its peers wait drops its links and
 * dials again (fresh links, fresh syncs), but keeps its members up in its view while it
 * does: marking each down and up again has every record of each looked at anew, and on
 * a loaded machine that work was the next stall (issue 16's 20-server join collapsed
 * so). Two meshes in this process (records-member.ts), both stalled by a busy loop.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TEST_KEY } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';
import { startRecordsMember } from './records-member.ts';

const DOWN_AFTER_MS = 1000;
const STALL_MS = 1600;

test('a server that stood still relinks without marking its members down and up', async (t) => {
  const one = await startRecordsMember(t, {
    id: 5,
    count: 1000,
    key: TEST_KEY,
    downAfterMs: DOWN_AFTER_MS,
  });
  const two = await startRecordsMember(t, {
    id: 6,
    count: 1000,
    key: TEST_KEY,
    downAfterMs: DOWN_AFTER_MS,
  });
  two.mesh.addSeed(one.address);
  const linked = (since: number): boolean =>
    one.mesh.heardEverySince(since) && two.mesh.heardEverySince(since);
  await waitFor('the two to link and sync', () => linked(0), Boolean);
  await waitFor(
    'each to hold the other`s records',
    () => [one.view.member(6)?.records.size, two.view.member(5)?.records.size].join(),
    (held) => held === '1000,1000',
  );
  const downs: string[] = [];
  one.view.onMemberChange((id, up) => !up && downs.push(`5 saw ${id} down`));
  two.view.onMemberChange((id, up) => !up && downs.push(`6 saw ${id} down`));

  // Both event loops stand still past the silence limit (this process runs both).
  const stalled = Date.now();
  while (Date.now() - stalled < STALL_MS) {
    // busy: nothing else runs
  }
  const after = Date.now();
  await waitFor('both to be linked again and heard after the stall', () => linked(after), Boolean);
  assert.deepEqual(downs, [], 'no member marked down by a relink');
  assert.equal(one.view.member(6)?.up, true);
  assert.equal(two.view.member(5)?.up, true);
  assert.equal(one.view.member(6)?.records.size, 1000, 'the records stay');
});
