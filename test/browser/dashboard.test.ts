/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core):
 * a three-server cluster, the page sees all three servers and a file with its
 * copy, shows a file created through the CLI with no request but its event
 * stream (nothing is polled), uploads a file and sees it appear, downloads it,
 * and deletes it.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { logIn, openPage } from '../harness/browser.ts';
import { runCli } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { startCluster } from '../harness/cluster.ts';

const KEY = 'browser-test-key';

test(
  'dashboard - three servers, a file with its copy, upload, download and delete in Chromium',
  { timeout: 120_000 },
  async (t) => {
    const { servers } = await startCluster(t, 3, { key: KEY, args: ['--http-port', '0'] });
    const one = servers[0]!;
    const made = await runCli(['create', 'notes/existing.txt', '--server', one.address], {
      env: { LANFS_KEY: KEY },
      input: 'already here\n',
    });
    assert.equal(made.code, 0, made.stderr);

    const page = await openPage(t);
    // The page asks for the key once.
    await logIn(page, one.httpPort, KEY);
    await page.locator('[data-testid=servers] tr').nth(2).waitFor();
    assert.equal(await page.locator('[data-testid=servers] tr').count(), 3);
    assert.equal(await page.locator('[data-testid=servers] td.up').count(), 3);
    const existing = page.locator('tr[data-file="notes/existing.txt"]');
    await existing.waitFor();
    assert.match((await existing.textContent()) ?? '', /server 1.*server 2/);

    // A create through the CLI (on another server) appears, pushed: while it does, the
    // page makes no request at all (its one open /api/events request predates this).
    const requests: string[] = [];
    const record = (request: { method: () => string; url: () => string }): void => {
      requests.push(`${request.method()} ${new URL(request.url()).pathname}`);
    };
    page.on('request', record);
    const pushedAt = Date.now();
    const pushed = await runCli(['create', 'pushed.txt', '--server', servers[1]!.address], {
      env: { LANFS_KEY: KEY },
      input: 'pushed to the page\n',
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    const pushedRow = page.locator('tr[data-file="pushed.txt"]');
    await pushedRow.waitFor({ timeout: 10_000 });
    console.log(
      `dashboard showed pushed.txt ${Date.now() - pushedAt} ms after the CLI create began`,
    );
    // Long enough for a 500 ms poll to have shown itself, were there one.
    await page.waitForTimeout(1500);
    page.off('request', record);
    assert.deepEqual(
      requests.filter((r) => r !== 'GET /api/events'),
      [],
      'the page polled instead of following the event stream',
    );
    assert.match((await pushedRow.textContent()) ?? '', /v1/);

    // Upload through the page.
    const local = join(await tempDir(t), 'from-browser.txt');
    await writeFile(local, 'uploaded from the page\n');
    await page.getByTestId('file').setInputFiles(local);
    await page.getByTestId('upload').click();
    const uploaded = page.locator('tr[data-file="from-browser.txt"]');
    await uploaded.waitFor({ timeout: 10_000 });
    const got = await runCli(
      ['download', 'from-browser.txt', '-o', '-', '--server', servers[2]!.address],
      { env: { LANFS_KEY: KEY } },
    );
    assert.equal(got.stdout, 'uploaded from the page\n');

    // Download through the page.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      uploaded.getByRole('button', { name: 'download' }).click(),
    ]);
    const saved = await download.path();
    assert.equal(await readFile(saved, 'utf8'), 'uploaded from the page\n');

    // Delete through the page; it disappears from the list.
    await uploaded.getByRole('button', { name: 'delete' }).click();
    await uploaded.waitFor({ state: 'detached', timeout: 10_000 });
    const shown = await runCli(['show', '--json', '--server', one.address], {
      env: { LANFS_KEY: KEY },
    });
    assert.deepEqual(
      (JSON.parse(shown.stdout) as { name: string }[]).map((r) => r.name),
      ['notes/existing.txt', 'pushed.txt'],
    );

    await page.screenshot({ path: join(await tempDir(t), 'dashboard.png') });
  },
);
