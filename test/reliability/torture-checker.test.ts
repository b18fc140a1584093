/**
 * The torture checker (bench/torture-history.ts) and partitions: a change made while
 * servers were cut apart may have been on the side whose file lost the name, so a
 * read after the heal that returns the other side's version is no wrong read. Seed
 * 13's 10-minute run (after the unsure-copy fix) counted one such read: the side cut
 * off made, edited and deleted files of t/f1 of its own while the other side edited
 * its file, which kept the name by the conflict rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHistory, HEAL_GRACE_MS, type Op } from '../../bench/torture-history.ts';

const op = (o: Partial<Op>): Op => ({
  worker: 0,
  kind: 'create',
  name: 't/a',
  start: 0,
  end: 1,
  outcome: 'ok',
  ...o,
});
const x = 'x'.repeat(64);
const y = 'y'.repeat(64);
const z = 'z'.repeat(64);

test('torture checker - a change made during a partition is not taken to replace what a read after it returns', () => {
  const cut = { from: 50, to: 200 };
  const after = cut.to + HEAL_GRACE_MS + 400;
  const history = [
    op({ sha256: x }),
    // One side edits the file; the other makes its own file of the name and deletes it.
    op({ worker: 1, kind: 'edit', sha256: y, start: 100, end: 110 }),
    op({ worker: 2, sha256: z, start: 120, end: 125 }),
    op({ worker: 2, kind: 'delete', start: 130, end: 135 }),
    // After the heal the name holds the edited file (the conflict rule kept it).
    op({ worker: 1, kind: 'read', sha256: y, start: after, end: after + 1 }),
  ];
  const final = new Map([[1, new Map([['t/a', y]])]]);
  assert.deepEqual(checkHistory(history, final, ['t/a'], [cut]).wrongReads, []);
  // The same without a partition: the delete came after the edit, so the read is wrong.
  assert.equal(checkHistory(history, final, ['t/a']).wrongReads.length, 1);
  // A read of bytes nobody wrote is wrong whatever the partitions.
  const invented = [
    ...history,
    op({ kind: 'read', sha256: 'q'.repeat(64), start: after + 2, end: after + 3 }),
  ];
  assert.equal(checkHistory(invented, final, ['t/a'], [cut]).wrongReads.length, 1);
});

test('torture checker - a create of unknown outcome may take effect later, but once', () => {
  const history = [
    // Its server died before answering; the replay found the name taken.
    op({ sha256: x, start: 0, end: 10, outcome: 'info' }),
    op({ worker: 1, sha256: y, start: 20, end: 30 }),
    op({ worker: 1, kind: 'delete', start: 40, end: 50 }),
    // The server is back with it: the create took effect now, the name being free.
    op({ worker: 2, kind: 'read', sha256: x, start: 100, end: 105 }),
    op({ worker: 2, kind: 'read', sha256: x, start: 106, end: 107 }),
  ];
  const final = new Map([[1, new Map([['t/a', x]])]]);
  assert.deepEqual(checkHistory(history, final, ['t/a']).wrongReads, []);
  // Deleted after it was seen, it must not be read again.
  const again = [
    ...history,
    op({ worker: 1, kind: 'delete', start: 110, end: 120 }),
    op({ worker: 2, kind: 'read', sha256: x, start: 200, end: 201 }),
  ];
  assert.deepEqual(
    checkHistory(again, new Map([[1, new Map<string, string>()]]), ['t/a']).wrongReads,
    ['t/a: read at 200-201 ms returned xxxxxxxxxxxx'],
  );
  // An edit of unknown outcome is not given that leeway: it needs the file it edits.
  const edit = [
    op({ sha256: y, start: 0, end: 5 }),
    op({ worker: 1, kind: 'edit', sha256: x, start: 10, end: 20, outcome: 'info' }),
    op({ worker: 2, kind: 'delete', start: 12, end: 18 }),
    // The name made anew and deleted meanwhile: the edited file cannot be back.
    op({ worker: 2, sha256: z, start: 30, end: 40 }),
    op({ worker: 2, kind: 'delete', start: 50, end: 60 }),
    op({ worker: 2, kind: 'read', sha256: x, start: 100, end: 105 }),
  ];
  assert.equal(
    checkHistory(edit, new Map([[1, new Map<string, string>()]]), ['t/a']).wrongReads.length,
    1,
  );
});
