/**
 * The suite runner fails a run that leaves anything in the temp folder, and
 * passes one that cleans up; it gives each run a temp folder of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const runner = fileURLToPath(new URL('../harness/run-suite.ts', import.meta.url));

function runSuite(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', runner, '--', process.execPath, '-e', script],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('a run that leaves a file in the temp folder fails and names it', async () => {
  const result = await runSuite(
    "require('fs').writeFileSync(require('path').join(require('os').tmpdir(), 'kept-edit.txt'), 'x')",
  );
  assert.equal(result.code, 1);
  assert.match(result.stderr, /left 1 item\(s\) in the temp folder/);
  assert.match(result.stderr, /kept-edit\.txt/);
});

test('a run that cleans up passes, and a failing run keeps its own exit code', async () => {
  const clean = await runSuite(
    "const fs = require('fs'); const d = fs.mkdtempSync(require('os').tmpdir() + '/x-'); fs.rmSync(d, { recursive: true })",
  );
  assert.equal(clean.code, 0, clean.stderr);
  const failing = await runSuite('process.exit(3)');
  assert.equal(failing.code, 3);
});
