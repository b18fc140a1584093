/**
 * The dashboard in Debian's headless Chromium (playwright-core), for what issue 11
 * found: a file that only other servers hold downloads from this server's page
 * (streamed through it), and every failed download says why on the page; at
 * phone width (420 px) nothing scrolls sideways, no button's text is broken
 * across lines, and the key prompt says where the key is.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { logIn as openDashboard, openPage } from '../harness/browser.ts';
import { runCli, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';

const KEY = 'browser-details-key';

async function logIn(page: Page, server: ServerProcess): Promise<void> {
  await openDashboard(page, server.httpPort, KEY);
  await page.locator('[data-testid=servers] tr').first().waitFor();
}

test(
  'dashboard - a file only another server holds downloads from this page; failures show a message',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await startCluster(t, 2, {
      key: KEY,
      args: ['--replicas', '1', '--http-port', '0'],
    });
    const [one, two] = cluster.servers as [ServerProcess, ServerProcess];
    const made = await runCli(['create', 'elsewhere/only-on-two.txt', '--server', two.address], {
      env: { LANFS_KEY: KEY },
      input: 'held by server 2 only\n',
    });
    assert.equal(made.code, 0, made.stderr);

    const page = await openPage(t);
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      // What the issue saw: a cross-origin redirect the page's fetch could not follow.
      if (message.type() === 'error' && /fetch|CORS|Access-Control/i.test(message.text()))
        consoleErrors.push(message.text());
    });
    await logIn(page, one);
    const row = page.locator('tr[data-file="elsewhere/only-on-two.txt"]');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /server 2/);
    assert.doesNotMatch((await row.textContent()) ?? '', /server 1/, 'server 1 holds no copy');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: 'download' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'only-on-two.txt');
    assert.equal(await readFile(await download.path(), 'utf8'), 'held by server 2 only\n');
    assert.equal(await page.getByRole('alert').textContent(), '', 'no error shown');
    assert.deepEqual(consoleErrors, [], 'no failed fetch in the console');

    // Its only holder stops: the download fails, and the page says why.
    await cluster.stop(1);
    await row.filter({ hasText: 'unavailable' }).waitFor({ timeout: 20_000 });
    await row.getByRole('button', { name: 'download' }).click();
    const alert = page.getByRole('alert');
    await alert.filter({ hasText: /down/ }).waitFor({ timeout: 10_000 });
    assert.match((await alert.textContent()) ?? '', /only-on-two\.txt.*server 2.*down/);

    // The page's own server stops: the fetch itself fails, and the page says so too.
    await cluster.stop(0);
    await page.evaluate("document.getElementById('error').textContent = ''");
    await row.getByRole('button', { name: 'download' }).click();
    await alert.filter({ hasText: /Could not download/ }).waitFor({ timeout: 10_000 });
  },
);

test(
  'dashboard - at phone width (420 px) no sideways scroll, no button broken across lines, the key prompt says where the key is',
  { timeout: 120_000 },
  async (t) => {
    const { servers } = await startCluster(t, 2, { key: KEY, args: ['--http-port', '0'] });
    const one = servers[0]!;
    for (const name of [
      'reports/2024/quarterly-financial-summary-for-the-board-of-directors.pdf',
      'averyveryverylongfilenamewithoutanyplacetobreakitatall-0123456789abcdef.bin',
      'short.txt',
    ]) {
      const made = await runCli(['create', name, '--server', one.address], {
        env: { LANFS_KEY: KEY },
        input: `${name}\n`,
      });
      assert.equal(made.code, 0, made.stderr);
    }

    const page = await openPage(t, { width: 420, height: 900 });
    await page.goto(`http://127.0.0.1:${one.httpPort}/`);
    const hint = page.getByTestId('key-hint');
    await hint.waitFor();
    assert.match((await hint.textContent()) ?? '', /\.\/lanfs-data\/key.*lanfs up/);
    await logIn(page, one);
    await page.locator('[data-testid=files] tr').nth(2).waitFor();

    // In the page (a string: this file is typed without the DOM library).
    const layout = await page.evaluate<{
      viewport: number;
      scrollWidth: number;
      fileButtons: number;
      buttons: { text: string; lines: number; right: number }[];
      submits: number[];
    }>(`(() => {
      // The line boxes an element's text occupies: one rectangle row per line.
      const lines = (element) => {
        const range = document.createRange();
        range.selectNodeContents(element);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      };
      return {
        viewport: window.innerWidth,
        scrollWidth: document.documentElement.scrollWidth,
        fileButtons: document.querySelectorAll('#files button').length,
        buttons: [...document.querySelectorAll('button')]
          .filter((b) => b.offsetParent !== null)
          .map((b) => ({
            text: b.textContent,
            lines: lines(b),
            right: b.getBoundingClientRect().right,
          })),
        submits: [...document.querySelectorAll('input[type=submit]')]
          .filter((i) => i.offsetParent !== null)
          .map((i) => i.getBoundingClientRect().right),
      };
    })()`);
    assert.equal(layout.viewport, 420);
    assert.ok(
      layout.scrollWidth <= layout.viewport,
      `the page scrolls sideways: ${layout.scrollWidth} px wide in a ${layout.viewport} px window`,
    );
    assert.equal(layout.fileButtons, 9, 'a download, a delete and a history button per file');
    for (const button of layout.buttons) {
      assert.equal(button.lines, 1, `"${button.text}" is broken across lines`);
      assert.ok(button.right <= layout.viewport, `"${button.text}" is off the screen`);
    }
    for (const right of layout.submits)
      assert.ok(right <= layout.viewport, 'a submit button is off the screen');

    await page.screenshot({ path: `${await tempDir(t)}/dashboard-420.png`, fullPage: true });
  },
);
