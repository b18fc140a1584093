/**
 * The dashboard's second edition (issue 15) in Debian's headless Chromium: the
 * health summary, disks, folder navigation with search, a drag-and-drop upload
 * with its progress bar, an edit saved in the browser and one that meets a
 * conflict (keep mine under another name), a binary file offered for download
 * only, a file whose holder is down (greyed), live activity, and the page at
 * phone width. Writes docs/dashboard.png and docs/dashboard-phone.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { logIn as openDashboard, openPage } from '../harness/browser.ts';
import { runCli, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';

const KEY = 'browser-second-key';
const DOCS = new URL('../../docs/', import.meta.url).pathname;
/**
 * Screenshots go to docs/ when asked (LANFS_SCREENSHOTS=1 npm test), else to a temp
 * folder: a plain test run leaves the tracked files alone.
 */
async function shotsDir(t: TestContext): Promise<string> {
  return process.env.LANFS_SCREENSHOTS === '1' ? DOCS : await tempDir(t);
}

async function logIn(page: Page, server: ServerProcess): Promise<void> {
  await openDashboard(page, server.httpPort, KEY);
  await page.getByTestId('servers-up').waitFor();
}

test(
  'dashboard 2 - summary, folders, drop upload, edit and conflict, a down holder, phone width',
  { timeout: 180_000 },
  async (t) => {
    const cluster = await startCluster(t, 3, {
      key: KEY,
      args: ['--replicas', '2', '--http-port', '0', '--peer-timeout', '1500'],
    });
    const [one, , three] = cluster.servers as [ServerProcess, ServerProcess, ServerProcess];
    const create = async (name: string, content: string | Buffer, on = one) => {
      const made = await runCli(['create', name, '--server', on.address], {
        env: { LANFS_KEY: KEY },
        input: content,
      });
      assert.equal(made.code, 0, made.stderr);
    };
    await create('top.txt', 'at the top\n');
    await create('docs/notes.txt', 'line one\nline two\n');
    await create('docs/deep/inner.txt', 'deep\n');
    await create('docs/picture.bin', Buffer.from([0, 1, 2, 3, 255, 0, 7]));
    await create('far/on-three.txt', 'held by server 3\n', three);
    const base = `http://127.0.0.1:${one.httpPort}`;
    const auth = { Authorization: `Bearer ${KEY}` };

    const page = await openPage(t, { width: 1200, height: 1100 });
    await logIn(page, one);
    const summary = page.getByTestId('summary');
    await page.getByTestId('servers-up').filter({ hasText: '3 / 3' }).waitFor();
    assert.match((await page.getByTestId('below').textContent()) ?? '', /^0/);
    assert.match((await page.getByTestId('conflicts').textContent()) ?? '', /^0/);
    // Disk used and free per server.
    await page.locator('#disks .disk[data-server="1"]').filter({ hasText: /free/ }).waitFor();

    // Folder navigation: the top shows folders and top.txt; docs/ shows its files and deep/.
    const tree = page.getByTestId('tree');
    await tree.locator('[data-folder="docs/"]').waitFor();
    assert.equal(await tree.locator('[data-entry="top.txt"]').count(), 1);
    assert.equal(await tree.locator('[data-entry="docs/notes.txt"]').count(), 0);
    await tree.locator('[data-folder="docs/"] button').click();
    await tree.locator('[data-entry="docs/notes.txt"]').waitFor();
    await tree.locator('[data-folder="docs/deep/"]').waitFor();
    assert.equal(await tree.locator('[data-entry="top.txt"]').count(), 0);
    // Search reaches every folder.
    await page.getByTestId('search').fill('inner');
    await tree.locator('[data-entry="docs/deep/inner.txt"]').waitFor();
    assert.equal(await tree.locator('.row.file').count(), 1);
    await page.getByTestId('search').fill('');
    await page.getByTestId('sort').selectOption('size');

    // Drag and drop into docs/: uploaded with a progress bar, and listed.
    // A string, not a function: the tests are compiled without the DOM's types.
    const dataTransfer = await page.evaluateHandle(
      "(() => { const dt = new DataTransfer(); dt.items.add(new File(['dropped in the browser\\n'], 'dropped.txt', { type: 'text/plain' })); return dt; })()",
    );
    await page.getByTestId('drop').dispatchEvent('drop', { dataTransfer });
    await page.getByTestId('drop-said').filter({ hasText: 'Uploaded docs/dropped.txt' }).waitFor();
    assert.equal(await page.getByTestId('progress').getAttribute('value'), '100');
    await tree.locator('[data-entry="docs/dropped.txt"]').waitFor();
    assert.equal(
      await (await fetch(`${base}/files/docs/dropped.txt`, { headers: auth })).text(),
      'dropped in the browser\n',
    );

    // An edit saved in the browser.
    await tree.locator('[data-open="docs/notes.txt"]').click();
    const text = page.getByTestId('text');
    await page.locator('#gutter').filter({ hasText: '3' }).waitFor();
    assert.equal(await text.inputValue(), 'line one\nline two\n');
    await text.fill('line one\nline two, edited in the browser\n');
    await page.getByTestId('save').click();
    await page.getByTestId('edit-said').filter({ hasText: 'Saved as version 2' }).waitFor();
    assert.equal(
      await (await fetch(`${base}/files/docs/notes.txt`, { headers: auth })).text(),
      'line one\nline two, edited in the browser\n',
    );

    // Someone saves meanwhile: Save meets a conflict, both versions shown; keep mine aside.
    const now = await fetch(`${base}/files/docs/notes.txt`, { headers: auth });
    const other = await fetch(`${base}/files/docs/notes.txt`, {
      method: 'PUT',
      headers: { ...auth, 'If-Match': now.headers.get('etag')! },
      body: 'their version\n',
    });
    assert.equal(other.status, 200);
    await text.fill('my version\n');
    await page.getByTestId('save').click();
    await page.getByTestId('conflict').waitFor();
    assert.equal(await page.getByTestId('theirs').textContent(), 'their version\n');
    assert.equal(await page.getByTestId('yours').textContent(), 'my version\n');
    await page.screenshot({
      path: join(await shotsDir(t), 'dashboard-conflict.png'),
      fullPage: false,
    });
    assert.equal(await page.getByTestId('mine-as').inputValue(), 'docs/notes.mine.txt');
    await page.getByTestId('keep-mine').click();
    await page
      .getByTestId('edit-said')
      .filter({ hasText: 'kept as docs/notes.mine.txt' })
      .waitFor();
    assert.equal(
      await (await fetch(`${base}/files/docs/notes.mine.txt`, { headers: auth })).text(),
      'my version\n',
    );
    assert.equal(
      await (await fetch(`${base}/files/docs/notes.txt`, { headers: auth })).text(),
      'their version\n',
    );

    // A binary file: download and upload only.
    await page.getByTestId('search').fill('picture');
    await tree.locator('[data-open="docs/picture.bin"]').click();
    await page.locator('#edit-note').filter({ hasText: 'not text' }).waitFor();
    assert.equal(await page.getByTestId('save').isHidden(), true);
    await page.getByTestId('close-editor').click();
    await page.getByTestId('search').fill('');

    // Live activity from the event stream.
    await page
      .getByTestId('live-activity')
      .locator('li')
      .filter({ hasText: 'docs/notes.mine.txt' })
      .first()
      .waitFor();

    // Server 3 goes: the summary says so, and its copies are greyed.
    await cluster.kill(2);
    await page.getByTestId('servers-up').filter({ hasText: '2 / 3' }).waitFor({ timeout: 20_000 });
    await page.locator('[data-crumb=""]').click();
    await tree.locator('[data-folder="far/"] button').click();
    await tree.locator('[data-entry="far/on-three.txt"] .holder.down[data-holder="3"]').waitFor();
    await page
      .getByTestId('below')
      .filter({ hasText: /healing in/ })
      .waitFor({ timeout: 20_000 });
    assert.ok(await summary.isVisible());
    await page.locator('[data-crumb=""]').click();
    await page.screenshot({ path: join(await shotsDir(t), 'dashboard.png'), fullPage: true });

    // Phone width: nothing scrolls sideways; the summary and tree are there.
    const phone = await openPage(t, { width: 420, height: 900 });
    await logIn(phone, one);
    await phone.getByTestId('tree').locator('[data-folder="docs/"]').waitFor();
    const overflow = await phone.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at 420 px`);
    await phone.screenshot({
      path: join(await shotsDir(t), 'dashboard-phone.png'),
      fullPage: true,
    });
  },
);
