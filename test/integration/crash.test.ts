/**
 * kill -9 at named points of create, edit and delete (RELIABILITY A1/A2), then a
 * restart: the server must come back with no torn file, no record pointing at
 * missing bytes, no temp file, and every listed file readable with its sha256.
 * Acknowledged writes are never lost (kill -9 after the answer).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CrashPoint } from '../../src/shared/crash-points.ts';
import { runCli, startServer } from '../harness/cli.ts';
import { exportedFiles, leftoverUploads, tempDir } from '../harness/tmp-dir.ts';

const KEY = 'crash-test-key';

async function checkInvariants(
  t: TestContext,
  data: string,
): Promise<{ name: string; version: number; sha256: string }[]> {
  const server = await startServer(t, ['--data', data, '--key', KEY]);
  const env = { LANFS_SERVER: server.address, LANFS_KEY: KEY };
  const shown = await runCli(['show', '--json'], { env });
  assert.equal(shown.code, 0, shown.stderr);
  const records = JSON.parse(shown.stdout) as {
    name: string;
    version: number;
    sha256: string;
    size: number;
  }[];
  for (const record of records) {
    const got = await runCli(['download', record.name, '-o', '-'], { env });
    assert.equal(got.code, 0, `listed ${record.name} cannot be read: ${got.stderr}`);
    assert.equal(createHash('sha256').update(got.stdout).digest('hex'), record.sha256);
  }
  assert.deepEqual(await leftoverUploads(data), [], 'no partial upload survives a restart');
  const onDisk = await exportedFiles(data);
  assert.deepEqual(
    onDisk,
    records.map((r) => r.name).sort(),
    'every file on disk is listed and every listed file is on disk',
  );
  await server.stop();
  return records;
}

async function crashDuring(
  t: TestContext,
  point: CrashPoint,
  prepare: string[][],
  action: string[],
  input: string,
  editor = `sh -c 'echo edited > "$1"' editor`,
) {
  const data = await tempDir(t);
  const setup = await startServer(t, ['--data', data, '--id', '1', '--key', KEY]);
  for (const args of prepare) {
    const r = await runCli(args, {
      env: { LANFS_SERVER: setup.address, LANFS_KEY: KEY },
      input: 'v1\n',
    });
    assert.equal(r.code, 0, r.stderr);
  }
  await setup.stop();
  const crashing = await startServer(t, ['--data', data, '--key', KEY], {
    LANFS_CRASH_POINT: point,
  });
  const result = await runCli(action, {
    env: {
      LANFS_SERVER: crashing.address,
      LANFS_KEY: KEY,
      EDITOR: editor,
      // An edit whose upload dies keeps the user's copy: in a folder this test removes.
      TMPDIR: await tempDir(t),
    },
    input,
  });
  assert.notEqual(result.code, 0, 'the request was not acknowledged');
  assert.equal(await crashing.exited, null, 'the server died by SIGKILL');
  return { data, records: await checkInvariants(t, data) };
}

test('crash - create killed after the temp file is flushed: the name is free, nothing listed', async (t) => {
  const { records } = await crashDuring(
    t,
    'create-after-temp-fsync',
    [],
    ['create', 'new.txt'],
    'hello\n',
  );
  assert.deepEqual(records, []);
});

/** Larger than the journal's inline limit: streamed to a temp file, then linked into place. */
const LARGE = `${'large file line\n'.repeat(8000)}`;

test('crash - large create killed after the link, before the journal entry: the bytes are adopted whole', async (t) => {
  const { records, data } = await crashDuring(
    t,
    'create-after-link',
    [],
    ['create', 'new.txt'],
    LARGE,
  );
  assert.equal(records.length, 1);
  assert.equal(await readFile(join(data, 'new.txt'), 'utf8'), LARGE);
});

test('crash - create killed after the record, before the answer: the file is there', async (t) => {
  const { records } = await crashDuring(
    t,
    'create-after-record',
    [],
    ['create', 'new.txt'],
    'hello\n',
  );
  assert.equal(records.length, 1);
  assert.equal(records[0]!.version, 1);
});

test('crash - large edit killed after the rename: the new bytes, as the next version', async (t) => {
  const { records, data } = await crashDuring(
    t,
    'edit-after-rename',
    [['create', 'doc.txt']],
    ['edit', 'doc.txt'],
    '',
    `sh -c 'for i in $(seq 9000); do echo edited line; done > "$1"' editor`,
  );
  assert.equal(await readFile(join(data, 'doc.txt'), 'utf8'), 'edited line\n'.repeat(9000));
  assert.equal(records[0]!.version, 2);
});

test('crash - delete killed after the unlink: the file stays deleted', async (t) => {
  const { records } = await crashDuring(
    t,
    'delete-after-unlink',
    [['create', 'dir/doc.txt']],
    ['delete', 'dir/doc.txt'],
    '',
  );
  assert.deepEqual(records, []);
});

test('crash - kill -9 right after acknowledged creates and edits loses nothing', async (t) => {
  const data = await tempDir(t);
  const server = await startServer(t, ['--data', data, '--id', '1', '--key', KEY]);
  const env = { LANFS_SERVER: server.address, LANFS_KEY: KEY };
  for (let i = 0; i < 5; i++)
    assert.equal((await runCli(['create', `f${i}.txt`], { env, input: `file ${i}\n` })).code, 0);
  assert.equal(
    (await runCli(['edit', 'f0.txt'], { env: { ...env, EDITOR: `sh -c 'echo changed > "$1"' x` } }))
      .code,
    0,
  );
  await server.kill9();
  const records = await checkInvariants(t, data);
  assert.equal(records.length, 5);
  assert.equal(records.find((r) => r.name === 'f0.txt')!.version, 2);
  assert.equal(await readFile(join(data, 'f0.txt'), 'utf8'), 'changed\n');
});
