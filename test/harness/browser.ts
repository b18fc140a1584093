/**
 * Debian's Chromium, driven by playwright-core, for the dashboard tests: a fresh
 * profile per page, closed (and its folder removed) when the test ends, dialogs
 * accepted, downloads allowed. Nothing is fetched from outside the machine.
 */
import { chromium, type Page } from 'playwright-core';
import type { Cleanup } from './cli.ts';
import { onCleanup } from './cleanup.ts';
import { tempDir } from './tmp-dir.ts';

const CHROMIUM = '/usr/bin/chromium';

export async function openPage(
  t: Cleanup,
  viewport?: { width: number; height: number },
): Promise<Page> {
  const context = await chromium.launchPersistentContext(await tempDir(t), {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    ...(viewport ? { viewport } : {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  onCleanup(t, () => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (dialog) => void dialog.accept());
  return page;
}

/** Opens a server's dashboard and gives the key it asks for once. */
export async function logIn(page: Page, httpPort: number | undefined, key: string): Promise<void> {
  await page.goto(`http://127.0.0.1:${httpPort}/`);
  await page.getByTestId('key').fill(key);
  await page.getByTestId('key').press('Enter');
}
