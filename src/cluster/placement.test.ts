import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { choosePlacement, usedShare, weighsCapacity } from './placement.ts';

test('placement - fewest files first, ties to the lower id', () => {
  const candidates = [
    { id: 4, files: 10 },
    { id: 2, files: 3 },
    { id: 3, files: 3 },
    { id: 5, files: 0 },
  ];
  assert.deepEqual(choosePlacement(candidates, 1), [5]);
  assert.deepEqual(choosePlacement(candidates, 2), [5, 2]);
  assert.deepEqual(choosePlacement(candidates, 3), [5, 2, 3]);
  assert.deepEqual(choosePlacement(candidates, 9), [5, 2, 3, 4]);
  assert.deepEqual(choosePlacement(candidates, 0), []);
  assert.deepEqual(choosePlacement([], 2), []);
});

test('placement - the seed case: of two equal servers the lower id gets the copy', () => {
  assert.deepEqual(
    choosePlacement(
      [
        { id: 3, files: 7 },
        { id: 2, files: 7 },
      ],
      1,
    ),
    [2],
  );
});

test('placement - whatever the counts, no chosen server holds more files than one left out', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.record({ id: fc.integer({ min: 1, max: 50 }), files: fc.nat(20) }), {
        selector: (c) => c.id,
        maxLength: 10,
      }),
      fc.nat(5),
      (candidates, count) => {
        const chosen = new Set(choosePlacement(candidates, count));
        assert.equal(chosen.size, Math.min(count, candidates.length));
        for (const a of candidates.filter((c) => chosen.has(c.id))) {
          for (const b of candidates.filter((c) => !chosen.has(c.id))) {
            assert.ok(a.files < b.files || (a.files === b.files && a.id < b.id));
          }
        }
      },
    ),
  );
});

test('placement - with every capacity known, the smallest share of its capacity in use goes first', () => {
  const GB = 1e9;
  const candidates = [
    { id: 1, files: 10, bytes: 50 * GB, capacity: 100 * GB }, // half full
    { id: 2, files: 900, bytes: 200 * GB, capacity: 1000 * GB }, // a fifth, more files
    { id: 3, files: 2, bytes: 30 * GB, capacity: 100 * GB }, // three tenths
  ];
  assert.deepEqual(choosePlacement(candidates, 1), [2]);
  assert.deepEqual(choosePlacement(candidates, 2), [2, 3]);
  assert.deepEqual(choosePlacement(candidates, 3), [2, 3, 1]);
  // Equal shares: fewest files, then the lower id.
  assert.deepEqual(
    choosePlacement(
      [
        { id: 5, files: 4, bytes: 10, capacity: 100 },
        { id: 4, files: 4, bytes: 20, capacity: 200 },
        { id: 6, files: 3, bytes: 0, capacity: 0.1 },
        { id: 7, files: 1, bytes: 1, capacity: 10 },
      ],
      4,
    ),
    [6, 7, 4, 5],
  );
});

test('placement - one capacity unknown: the fewest-files rule for all (equal disks)', () => {
  const candidates = [
    { id: 1, files: 10, bytes: 10, capacity: 1000 },
    { id: 2, files: 3, bytes: 900, capacity: 1000 },
    { id: 3, files: 5, bytes: 0 },
  ];
  assert.equal(weighsCapacity(candidates), false);
  assert.deepEqual(choosePlacement(candidates, 3), [2, 3, 1]);
  assert.equal(weighsCapacity(candidates.slice(0, 2)), true);
  assert.deepEqual(choosePlacement(candidates.slice(0, 2), 2), [1, 2]);
});

test('placement - servers filled by the rule, one file at a time, end at about the same share of their capacity', () => {
  const capacity = [100, 200, 400, 400];
  const servers = capacity.map((c, i) => ({ id: i + 1, files: 0, bytes: 0, capacity: c }));
  for (let n = 0; n < 1100; n++) {
    const [to] = choosePlacement(servers, 1);
    const server = servers.find((s) => s.id === to)!;
    server.files++;
    server.bytes += 1;
  }
  for (const s of servers) assert.ok(Math.abs(usedShare(s) - 1) <= 0.01, JSON.stringify(s));
});

test('placement - whatever the inputs, no chosen server uses a larger share than one left out', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({
          id: fc.integer({ min: 1, max: 50 }),
          files: fc.nat(20),
          bytes: fc.nat(1000),
          capacity: fc.integer({ min: 1, max: 1000 }),
        }),
        { selector: (c) => c.id, maxLength: 10 },
      ),
      fc.nat(5),
      (candidates, count) => {
        const chosen = new Set(choosePlacement(candidates, count));
        assert.equal(chosen.size, Math.min(count, candidates.length));
        for (const a of candidates.filter((c) => chosen.has(c.id)))
          for (const b of candidates.filter((c) => !chosen.has(c.id)))
            assert.ok(usedShare(a) <= usedShare(b));
      },
    ),
  );
});
