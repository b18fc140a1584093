/**
 * Runs the test suite with a temp folder of its own and fails it if any test
 * leaves something behind there (a Chromium profile, a kept edit copy, a data
 * folder). Every test must clean up after itself, also when it fails; this is
 * what holds them to it. Usage: node --import tsx test/harness/run-suite.ts -- CMD ARGS...
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const separator = process.argv.indexOf('--');
const command = separator >= 0 ? process.argv.slice(separator + 1) : [];
if (command.length === 0) {
  console.error('Give the test command after --, for example: run-suite.ts -- node --test');
  process.exit(2);
}

const suiteTemp = await mkdtemp(join(tmpdir(), 'lanfs-suite-'));
const child = spawn(command[0]!, command.slice(1), {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: suiteTemp, TMP: suiteTemp, TEMP: suiteTemp },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => child.kill(signal));
}
const exitCode = await new Promise<number>((resolve) => {
  child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

// tsx keeps its compile cache in the temp folder (tsx-UID); that is the runner's, not a test's.
const leftovers = (await readdir(suiteTemp)).filter((name) => !/^tsx-\d+$/.test(name));
// What a leftover folder holds says which test made it.
const described = await Promise.all(
  leftovers.sort().map(async (name) => {
    const inside = await readdir(join(suiteTemp, name)).catch(() => undefined);
    return inside ? `${name}/ (${inside.slice(0, 4).join(', ') || 'empty'})` : name;
  }),
);
await rm(suiteTemp, { recursive: true, force: true });
if (leftovers.length > 0) {
  console.error(
    `\nThe tests left ${leftovers.length} item(s) in the temp folder (${suiteTemp}); ` +
      `each test must remove what it makes, also on failure:\n` +
      described.map((name) => `  ${name}`).join('\n'),
  );
  process.exit(exitCode === 0 ? 1 : exitCode);
}
process.exit(exitCode);
