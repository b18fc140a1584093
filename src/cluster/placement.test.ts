import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { choosePlacement } from './placement.ts';

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
