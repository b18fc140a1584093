import assert from 'node:assert/strict';
import { test } from 'node:test';
import { completeLine, splitLine } from './shell.ts';

test('shell - lines split like a shell: quotes group, backslash escapes', () => {
  assert.deepEqual(splitLine('create  "my notes/a b.txt" --from x'), [
    'create',
    'my notes/a b.txt',
    '--from',
    'x',
  ]);
  assert.deepEqual(splitLine("download 'it''s' -o -"), ['download', 'its', '-o', '-']);
  assert.deepEqual(splitLine('delete a\\ b'), ['delete', 'a b']);
  assert.deepEqual(splitLine('   '), []);
  assert.deepEqual(splitLine('create ""'), ['create', '']);
});

test('shell - Tab completes command names, then file names', () => {
  const names = ['notes/todo.txt', 'notes/done.txt', 'photo.jpg'];
  assert.deepEqual(completeLine('', names), [
    ['show', 'create', 'download', 'edit', 'delete', 'status', 'help', 'bye'],
    '',
  ]);
  assert.deepEqual(completeLine('d', names), [['download', 'delete'], 'd']);
  assert.deepEqual(completeLine('download ', names), [names, '']);
  assert.deepEqual(completeLine('edit notes/t', names), [['notes/todo.txt'], 'notes/t']);
  assert.deepEqual(completeLine('edit zz', names), [[], 'zz']);
});
