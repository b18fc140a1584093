/**
 * A short `npm run torture` (issue 13 part 5): 3 servers for 20 s, workers
 * creating, editing, deleting and reading while a seeded nemesis kills -9 and
 * freezes servers; then the history checker. The same seed gives the same fault
 * schedule. Without faults every read must return a version that existed at some
 * point of it (the wrong reads of the first version were deletes racing a create's or
 * edit's copies: docs/RELIABILITY.md); under kill -9 a few are still open.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultSchedule, formatReport, runTorture } from '../../bench/torture.ts';
import { checkHistory, type Op } from '../../bench/torture-history.ts';

test('the same seed gives the same fault schedule', () => {
  assert.deepEqual(faultSchedule(42, 120, 5), faultSchedule(42, 120, 5));
  assert.notDeepEqual(faultSchedule(42, 120, 5), faultSchedule(43, 120, 5));
});

test('the checker finds a lost write, a file back after its delete and a read of a version never there', () => {
  const op = (o: Partial<Op>): Op => ({
    worker: 0,
    kind: 'create',
    name: 'a',
    start: 0,
    end: 1,
    outcome: 'ok',
    ...o,
  });
  const ops = [
    op({ name: 'a', sha256: 'x'.repeat(64) }),
    op({ name: 'b', sha256: 'y'.repeat(64) }),
    op({ name: 'b', kind: 'delete', start: 5, end: 6 }),
    op({ name: 'a', kind: 'read', start: 7, end: 8, sha256: 'z'.repeat(64) }),
  ];
  const image = new Map<string, string>([['b', 'y'.repeat(64)]]);
  const verdict = checkHistory(
    ops,
    new Map([
      [1, image],
      [2, new Map<string, string>()],
    ]),
    ['a', 'b'],
  );
  assert.equal(verdict.lost.length, 1);
  assert.equal(verdict.resurrected.length, 1);
  assert.equal(verdict.wrongReads.length, 1);
  assert.equal(verdict.diverged.length, 1);
});

test('torture without faults: 10 s, 3 servers: no wrong read (deletes racing creates and edits used to leave a copy behind)', async (t) => {
  const report = await runTorture({ seconds: 10, seed: 7, servers: 3, nemesis: false });
  t.diagnostic(formatReport(report));
  assert.ok(report.ops.delete.ok > 0 && report.ops.read.ok > 0, 'the workers ran');
  assert.deepEqual(report.verdict.wrongReads, []);
  assert.deepEqual(report.verdict.resurrected, []);
  assert.deepEqual(report.verdict.diverged, []);
});

test('torture: 20 s, 3 servers, kills and freezes: nothing acknowledged lost, nothing deleted back, one image, every file at its copies', async (t) => {
  const report = await runTorture({ seconds: 20, seed: 13, servers: 3 });
  t.diagnostic(formatReport(report));
  const v = report.verdict;
  assert.ok(report.faults.length >= 3, 'the nemesis ran');
  assert.ok(report.ops.create.ok > 0 && report.ops.read.ok > 0, 'the workers ran');
  assert.deepEqual(v.lost, []);
  assert.deepEqual(v.resurrected, []);
  // Open (docs/RELIABILITY.md): a few reads a minute under kill -9 still return a version
  // an acknowledged delete or edit had replaced (a copy that outlived a delete, seen from
  // a server just restarted). Reported here, asserted in the run without faults above.
  if (v.wrongReads.length > 0) t.diagnostic(`open: ${v.wrongReads.length} wrong reads`);
  assert.deepEqual(v.diverged, []);
  assert.deepEqual(v.invented, []);
  assert.deepEqual(report.underReplicated, []);
});

test('the checker: a write kept under a conflict name is not lost and replaced nothing; a read during a partition may be stale', () => {
  const [x, y, z] = ['x', 'y', 'z'].map((c) => c.repeat(64)) as [string, string, string];
  const op = (o: Partial<Op>): Op => ({
    worker: 0,
    kind: 'create',
    name: 't/a',
    start: 0,
    end: 1,
    outcome: 'ok',
    ...o,
  });
  // Two creates acknowledged (a server could not vote); the later one lost the name.
  const conflict = [
    op({ sha256: x, start: 0, end: 1 }),
    op({ sha256: y, start: 2, end: 3 }),
    op({ kind: 'read', sha256: x, start: 4, end: 5 }),
  ];
  const image = new Map([
    ['t/a', x],
    ['t/a.conflict-yyyyyyyy'.replace(/y/g, 'a'), y],
  ]);
  let verdict = checkHistory(conflict, new Map([[1, image]]), ['t/a']);
  assert.deepEqual(verdict.lost, []);
  assert.deepEqual(verdict.wrongReads, []);
  // Without the conflict copy the same history is a lost write and a wrong read.
  verdict = checkHistory(conflict, new Map([[1, new Map([['t/a', x]])]]), ['t/a']);
  assert.equal(verdict.lost.length, 1);
  assert.equal(verdict.wrongReads.length, 1);

  // An edit acknowledged on one side, a read of the older version on the other.
  const split = [
    op({ sha256: x, start: 0, end: 1 }),
    op({ kind: 'edit', sha256: y, start: 100, end: 110 }),
    op({ kind: 'read', sha256: x, start: 120, end: 121 }),
    op({ kind: 'read', sha256: z, start: 122, end: 123 }),
  ];
  const final = new Map([[1, new Map([['t/a', y]])]]);
  verdict = checkHistory(split, final, ['t/a'], [{ from: 50, to: 200 }]);
  assert.deepEqual(
    verdict.wrongReads.map((r) => r.includes('zzzz')),
    [true],
    'stale is fine during a cut, bytes nobody wrote are not',
  );
  assert.equal(checkHistory(split, final, ['t/a']).wrongReads.length, 2);
});
