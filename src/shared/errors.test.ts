import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ERROR_CODES } from './errors.ts';

test('errors - docs/ERRORS.md lists every code, and no code that no longer exists', async () => {
  const doc = await readFile(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
  const documented = new Set(doc.match(/LANFS_ERR_[A-Z_]+/g));
  for (const code of ERROR_CODES)
    assert.ok(documented.has(code), `${code} is missing from docs/ERRORS.md`);
  for (const code of documented)
    assert.ok(
      (ERROR_CODES as readonly string[]).includes(code),
      `docs/ERRORS.md lists ${code}, which does not exist`,
    );
});
