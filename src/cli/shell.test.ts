import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { completeLine, completionKind, inShellWords, localPaths, splitLine } from './shell.ts';

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
    ['show', 'create', 'download', 'edit', 'delete', 'status', 'help', 'clear', 'bye'],
    '',
  ]);
  assert.deepEqual(completeLine('d', names), [['download', 'delete'], 'd']);
  assert.deepEqual(completeLine('download ', names), [names, '']);
  assert.deepEqual(completeLine('edit notes/t', names), [['notes/todo.txt'], 'notes/t']);
  assert.deepEqual(completeLine('edit zz', names), [[], 'zz']);
});

test('shell - Tab completes local paths after --from and -o, lanfs names elsewhere', async (t) => {
  assert.equal(completionKind('create notes/a.txt --from '), 'local');
  assert.equal(completionKind('create notes/a.txt --from RE'), 'local');
  assert.equal(completionKind('download a.txt -o /tm'), 'local');
  assert.equal(completionKind('download a.t'), 'file');
  assert.equal(completionKind('downl'), 'command');
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-complete-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'docs'));
  await writeFile(join(dir, 'docs', 'readme.md'), '');
  await writeFile(join(dir, 'data.bin'), '');
  await writeFile(join(dir, '.hidden'), '');
  assert.deepEqual(await localPaths('d', dir), ['data.bin', 'docs/']);
  assert.deepEqual(await localPaths('docs/r', dir), ['docs/readme.md']);
  assert.deepEqual(await localPaths('', dir), ['data.bin', 'docs/']);
  assert.deepEqual(await localPaths('.h', dir), ['.hidden']);
  const local = await localPaths('do', dir);
  assert.deepEqual(completeLine('create x --from do', ['docs-on-lanfs.txt'], local), [
    ['docs/'],
    'do',
  ]);
});

test("shell - messages name shell commands, not the one-shot CLI's", () => {
  assert.equal(
    inShellWords('No file named "x" exists; run "lanfs show" to list the files.'),
    'No file named "x" exists; run "show" to list the files.',
  );
  // Not a shell command: left as it is.
  assert.equal(inShellWords('start one with "lanfs up"'), 'start one with "lanfs up"');
});
