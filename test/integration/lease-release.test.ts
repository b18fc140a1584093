/**
 * An edit's lease lives on the file's acting primary. A client connected to
 * another server is redirected there to take it; releasing it must go there
 * too, or the next edit (a script editing twice in a row) would find the lease
 * still held and be refused until it expires.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';

test('leases - an edit through a server that is not the primary releases its lease there: a second edit goes through at once', async (t) => {
  const c = await startCluster(t, 3, { key: 'lease-release-key', args: ['--replicas', '1'] });
  // Created through server 1, so server 1 is its primary and its only holder.
  const created = await runCli(['create', 'notes.txt'], { env: c.env(0), input: 'v1\n' });
  assert.equal(created.code, 0, created.stderr);
  const dir = await tempDir(t);
  const editor = join(dir, 'append.sh');
  await writeFile(editor, '#!/bin/sh\necho more >> "$1"\n');
  await chmod(editor, 0o755);
  // Both edits go through server 2, which redirects to server 1 for the lease and the upload.
  for (const round of [1, 2]) {
    const edited = await runCli(['edit', 'notes.txt'], {
      env: c.env(1, { EDITOR: editor, LANFS_CLIENT_HOST: 'laptop', TMPDIR: dir }),
    });
    assert.equal(edited.code, 0, `edit ${round}: ${edited.stderr}`);
  }
  const back = await runCli(['download', 'notes.txt', '-o', '-'], { env: c.env(2) });
  assert.equal(back.stdout, 'v1\nmore\nmore\n');
});
