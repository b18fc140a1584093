/**
 * Issue 14 on the dashboard, in Debian's headless Chromium (playwright-core): a
 * file's history with download and restore, the trash with undelete, each
 * server's space, who edits a file, and the activity feed of restores and trash
 * moves — on the page of the server that is not the file's primary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { logIn as openDashboard, openPage } from '../harness/browser.ts';
import { cleanEnv, LANFS_BIN, runCli, type ServerProcess } from '../harness/cli.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { tempDir } from '../harness/tmp-dir.ts';

const KEY = 'browser-kept-key';

async function lanfs(c: TestCluster, args: string[], i: number, extra: NodeJS.ProcessEnv = {}) {
  const r = await runCli(args, { env: c.env(i, { LANFS_CLIENT_HOST: 'laptop-a', ...extra }) });
  assert.equal(r.code, 0, `lanfs ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test(
  'dashboard - history with download and restore, the trash with undelete, space, leases and the activity feed',
  { timeout: 120_000 },
  async (t) => {
    const c = await startCluster(t, 2, {
      key: KEY,
      args: ['--replicas', '2', '--http-port', '0'],
    });
    const scratch = await tempDir(t);
    const made = await runCli(['create', 'notes.txt'], { env: c.env(0), input: 'one' });
    assert.equal(made.code, 0, made.stderr);
    for (const text of ['two', 'three']) {
      const editor = join(scratch, `${text}.sh`);
      await writeFile(editor, `#!/bin/sh\nprintf '%s' '${text}' > "$1"\n`);
      await chmod(editor, 0o755);
      await lanfs(c, ['edit', 'notes.txt'], 0, { EDITOR: editor });
    }

    const page = await openPage(t);
    const two = c.servers[1] as ServerProcess;
    await openDashboard(page, two.httpPort, KEY);
    const row = page.locator('tr[data-file="notes.txt"]');
    await row.waitFor();
    // Each server's space, in its row.
    await page
      .locator('[data-server="1"]')
      .filter({ hasText: /in files · .* versions · .* trash · .* free/ })
      .waitFor({ timeout: 10_000 });

    // History: three versions; version 1 downloads; restoring it makes version 4.
    await row.getByRole('button', { name: 'history' }).click();
    const history = page.getByTestId('history');
    await history.locator('tr[data-version="1"]').waitFor();
    assert.equal(await history.locator('tr').count(), 3);
    assert.match(
      (await history.locator('tr').first().textContent()) ?? '',
      /v3 \(current\).*laptop-a/,
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      history.locator('tr[data-version="1"]').getByRole('button', { name: 'download' }).click(),
    ]);
    assert.equal(await readFile(await download.path(), 'utf8'), 'one');
    await history.locator('tr[data-version="1"]').getByRole('button', { name: 'restore' }).click();
    await history.locator('tr[data-version="4"]').filter({ hasText: 'current' }).waitFor();
    assert.equal(await lanfs(c, ['download', 'notes.txt', '-o', '-'], 0), 'one');

    // Delete from the page: the trash lists it; undelete brings it back.
    await row.getByRole('button', { name: 'delete' }).click();
    const trashed = page.locator('tr[data-trash="notes.txt"]');
    await trashed.waitFor({ timeout: 10_000 });
    await row.waitFor({ state: 'detached' });
    await trashed.getByRole('button', { name: 'undelete' }).click();
    await row.waitFor({ timeout: 10_000 });
    await trashed.waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal(await lanfs(c, ['download', 'notes.txt', '-o', '-'], 1), 'one');

    // The activity feed told of each; a file being edited says so in its row.
    const activity = page.getByTestId('activity');
    await activity.filter({ hasText: /restored notes\.txt version 1 as v4/ }).waitFor();
    await activity.filter({ hasText: /moved notes\.txt to the trash/ }).waitFor();
    await activity.filter({ hasText: /brought back notes\.txt/ }).waitFor();
    const slow = join(scratch, 'slow.sh');
    await writeFile(slow, '#!/bin/sh\nsleep 60\n');
    await chmod(slow, 0o755);
    const child = spawn(process.execPath, [LANFS_BIN, 'edit', 'notes.txt'], {
      env: cleanEnv(c.env(0, { EDITOR: slow, LANFS_CLIENT_HOST: 'laptop-b' })),
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    onCleanup(t, async () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    });
    // A CLI process starting up on a busy machine: allow it time, but not if it exited.
    await Promise.race([
      row.filter({ hasText: /being edited on laptop-b since/ }).waitFor({ timeout: 45_000 }),
      exited.then((code) => {
        throw new Error(`lanfs edit exited (${String(code)}) before its lease showed`);
      }),
    ]);
    await activity.filter({ hasText: /notes\.txt is being edited on laptop-b/ }).waitFor();
  },
);
