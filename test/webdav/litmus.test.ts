/**
 * WebDAV under /dav/ checked by litmus, Debian's WebDAV conformance suite (a
 * client nobody here wrote), against a 3-server cluster: one run per suite, so
 * each exit code counts. basic, copymove, http and locks must pass whole;
 * props is run and its summary recorded. litmus writes debug.log and child
 * files into its working folder: a temp folder removed afterwards.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';

interface LitmusRun {
  code: number;
  output: string;
  passed: number;
  failed: number;
}

async function litmus(suite: string, url: string, cwd: string): Promise<LitmusRun> {
  return await new Promise((resolve) => {
    execFile(
      'litmus',
      [url, 'webdav-user', TEST_KEY],
      {
        cwd,
        env: { PATH: process.env.PATH, TESTS: suite, HOME: cwd },
        timeout: 60_000,
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        const summary = /summary for `\w+': of (\d+) tests run: (\d+) passed, (\d+) failed/.exec(
          output,
        );
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          output,
          passed: summary ? Number(summary[2]) : 0,
          failed: summary ? Number(summary[3]) : -1,
        });
      },
    );
  });
}

test('webdav - litmus basic, copymove, http and locks pass with no failure; props is recorded', async (t) => {
  const { servers } = await startCluster(t, 3, { args: ['--http-port', '0'] });
  const url = `http://127.0.0.1:${servers[0]!.httpPort}/dav/`;
  const results: Record<string, LitmusRun> = {};
  for (const suite of ['basic', 'copymove', 'http', 'locks', 'props']) {
    const cwd = await tempDir(t, 'lanfs-litmus-');
    results[suite] = await litmus(suite, url, cwd);
  }
  for (const suite of ['basic', 'copymove', 'http', 'locks']) {
    const run = results[suite]!;
    const failures = run.output
      .split('\n')
      .filter((l) => l.includes('FAIL'))
      .join('\n');
    assert.equal(run.failed, 0, `litmus ${suite} failed:\n${failures || run.output}`);
    assert.ok(run.passed > 0, `litmus ${suite} ran no test:\n${run.output}`);
    assert.equal(run.code, 0, `litmus ${suite} exited ${run.code}:\n${run.output}`);
  }
  const props = results.props!;
  assert.ok(props.passed > 0, `litmus props did not run:\n${props.output}`);
  t.diagnostic(`litmus props: ${props.passed} passed, ${props.failed} failed (exit ${props.code})`);
});
