import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { nextLineage, type FileRecord } from '../protocol/messages.ts';
import { conflictName, conflictOutcome, conflictWinner, sameHistory } from './conflict-rule.ts';

const sha = (hex: string): string => hex.repeat(64 / hex.length);

const file = (over: Partial<FileRecord>): FileRecord => ({
  name: 'notes.txt',
  fileId: 'aaaaaaaaaaaaaaaa',
  size: 5,
  sha256: sha('11'),
  version: 1,
  primary: 1,
  replicas: [],
  modifiedAt: 0,
  ...over,
});

test('conflict rule - the conflict name carries 8 hex of the loser sha256, before the extension', () => {
  const loser = file({ sha256: `deadbeef${'0'.repeat(56)}` });
  assert.equal(conflictName('notes.txt', loser), 'notes.conflict-deadbeef.txt');
  assert.equal(conflictName('a/b/photo.jpeg', loser), 'a/b/photo.conflict-deadbeef.jpeg');
  // Only the last extension moves behind the tag.
  assert.equal(conflictName('backup.tar.gz', loser), 'backup.tar.conflict-deadbeef.gz');
  // No extension, or a name that only starts with a dot: the tag goes at the end.
  assert.equal(conflictName('README', loser), 'README.conflict-deadbeef');
  assert.equal(conflictName('.profile', loser), '.profile.conflict-deadbeef');
  assert.equal(conflictName('home/.bashrc', loser), 'home/.bashrc.conflict-deadbeef');
  // A dot in a folder name is not the file's extension.
  assert.equal(conflictName('v1.2/notes', loser), 'v1.2/notes.conflict-deadbeef');
});

test('conflict rule - different files: the lower primary id keeps the name, then the lower fileId', () => {
  const onOne = file({ fileId: 'ffffffffffffffff', primary: 1, sha256: sha('99') });
  const onTwo = file({ fileId: '0000000000000000', primary: 2, sha256: sha('00') });
  assert.equal(conflictWinner(onOne, onTwo), onOne);
  assert.equal(conflictWinner(onTwo, onOne), onOne);
  // Same primary (two creates there, e.g. across a restart with another folder): lower fileId.
  const low = file({ fileId: '1111111111111111', primary: 3 });
  const high = file({ fileId: '2222222222222222', primary: 3 });
  assert.equal(conflictWinner(low, high), low);
  assert.equal(conflictWinner(high, low), low);
  // Versions do not matter between different files.
  const old = file({ fileId: 'cccccccccccccccc', primary: 1, version: 1 });
  const edited = file({ fileId: 'bbbbbbbbbbbbbbbb', primary: 2, version: 9 });
  assert.equal(conflictWinner(edited, old), old);
});

test('conflict rule - one file edited on both sides: the lower sha256 keeps the name; a newer version is no conflict', () => {
  const a = file({ version: 2, sha256: sha('0a') });
  const b = file({ version: 2, sha256: sha('0b'), primary: 2 });
  assert.equal(conflictWinner(a, b), a);
  assert.equal(conflictWinner(b, a), a);
  const newer = file({ version: 3, sha256: sha('ff') });
  assert.equal(conflictWinner(a, newer), newer);
  assert.equal(conflictWinner(newer, a), newer);
});

test('conflict rule - what each holder does: the winner keeps, the same bytes merge, other bytes move aside', () => {
  // The same bytes under two fileIds: one file; the loser drops its record and takes the winner's.
  const first = file({ fileId: '1111111111111111', primary: 1 });
  const twin = file({ fileId: '2222222222222222', primary: 2 });
  assert.deepEqual(conflictOutcome(first, twin), { kind: 'keep' });
  assert.deepEqual(conflictOutcome(twin, first), { kind: 'drop' });

  // Different bytes: the loser is kept under its conflict name.
  const other = file({
    fileId: '2222222222222222',
    primary: 2,
    sha256: `abcdef01${'2'.repeat(56)}`,
  });
  assert.deepEqual(conflictOutcome(first, other), { kind: 'keep' });
  assert.deepEqual(conflictOutcome(other, first), {
    kind: 'rename',
    to: 'notes.conflict-abcdef01.txt',
  });

  // One file edited on both sides: never merged, even though the fileId is the same.
  const low = file({ version: 2, sha256: sha('01') });
  const high = file({ version: 2, sha256: `98765432${'f'.repeat(56)}`, primary: 2 });
  assert.deepEqual(conflictOutcome(low, high), { kind: 'keep' });
  assert.deepEqual(conflictOutcome(high, low), {
    kind: 'rename',
    to: 'notes.conflict-98765432.txt',
  });
});

/** Two records under one name that are not versions of one file (what the replicator calls rivals). */
const rivals = fc
  .tuple(
    fc.record({
      fileId: fc.constantFrom('aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb', 'cccccccccccccccc'),
      sha256: fc.constantFrom(sha('00'), sha('11'), sha('22')),
      version: fc.integer({ min: 1, max: 3 }),
      primary: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({
      fileId: fc.constantFrom('aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb', 'cccccccccccccccc'),
      sha256: fc.constantFrom(sha('00'), sha('11'), sha('22')),
      version: fc.integer({ min: 1, max: 3 }),
      primary: fc.integer({ min: 1, max: 4 }),
    }),
  )
  .map(([x, y]) => [file(x), file(y)] as const)
  .filter(
    ([a, b]) =>
      a.fileId !== b.fileId ||
      (a.fileId === b.fileId && a.version === b.version && a.sha256 !== b.sha256),
  );

test('conflict rule - every server computes the same winner, and exactly one side keeps the name', () => {
  fc.assert(
    fc.property(rivals, ([a, b]) => {
      // The same record wins whichever side asks (each server sees "mine" and "theirs").
      assert.deepEqual(conflictWinner(a, b), conflictWinner(b, a));
      const kept = [conflictOutcome(a, b), conflictOutcome(b, a)].filter((o) => o.kind === 'keep');
      assert.equal(kept.length, 1);
      // A loser moved aside keeps its bytes under a name derived from them.
      for (const [mine, theirs] of [
        [a, b],
        [b, a],
      ] as const) {
        const outcome = conflictOutcome(mine, theirs);
        if (outcome.kind === 'rename') assert.equal(outcome.to, conflictName(mine.name, mine));
        if (outcome.kind === 'drop') assert.equal(mine.sha256, theirs.sha256);
      }
    }),
  );
});

test('conflict rule - versions of one file are one history only if the older is in the newer lineage', () => {
  const v1 = file({ sha256: sha('11') });
  const a2 = file({ version: 2, sha256: sha('a2'), lineage: nextLineage(v1) });
  const a3 = file({ version: 3, sha256: sha('a3'), lineage: nextLineage(a2) });
  const b2 = file({ version: 2, sha256: sha('b2'), lineage: nextLineage(v1) });
  assert.ok(sameHistory(v1, a3) && sameHistory(a3, v1) && sameHistory(a2, a3));
  // Edited on both sides of a partition: side A twice, side B once. Not a catch-up.
  assert.ok(!sameHistory(b2, a3));
  assert.ok(!sameHistory(a2, b2));
  // The higher version keeps the name; the other history moves aside, bytes untouched.
  assert.equal(conflictWinner(b2, a3), a3);
  assert.deepEqual(conflictOutcome(b2, a3), { kind: 'rename', to: conflictName('notes.txt', b2) });
  // Records from before lineages: the version number decides, as it did.
  assert.ok(sameHistory(v1, file({ version: 5, sha256: sha('55') })));
  // The lineage names at most 32 versions back; beyond that the version decides.
  let long = v1;
  for (let v = 2; v <= 40; v++)
    long = file({
      version: v,
      sha256: sha(v.toString(16).padStart(2, '0')),
      lineage: nextLineage(long),
    });
  assert.equal(long.lineage!.length, 8 * 32);
  assert.ok(sameHistory(v1, long));
  assert.ok(!sameHistory(file({ version: 39, sha256: sha('ee') }), long));
});
