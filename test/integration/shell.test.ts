/**
 * `lanfs shell` as a person uses it, through a pipe: commands run, the session
 * survives its server dying (one line says so), and with no server left it keeps
 * trying and says when one is back.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { cleanEnv, LANFS_BIN, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'shell-test-key';

test(
  'shell - keeps its session across a failover, and tells when a server is back',
  { timeout: 60_000 },
  async (t) => {
    const cluster = await startCluster(t, 2, { key: KEY });
    const [one, two] = cluster.servers as [ServerProcess, ServerProcess];
    const home = await tempDir(t);
    const shell = spawn(process.execPath, [LANFS_BIN, 'shell'], {
      env: cleanEnv(cluster.env(undefined, { LANFS_HISTORY_FILE: `${home}/history` })),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    t.after(() => shell.kill('SIGKILL'));
    let out = '';
    let err = '';
    shell.stdout.on('data', (c: Buffer) => (out += c.toString()));
    shell.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const type = (line: string): void => void shell.stdin.write(`${line}\n`);

    await waitFor(
      'the greeting',
      () => out,
      (o) => o.includes('Connected to server 1'),
    );
    type('create kept.txt --from /etc/hostname');
    await waitFor(
      'the create',
      () => out,
      (o) => o.includes('Created kept.txt'),
    );
    await waitFor(
      'the copy on server 2',
      () => {
        type('status --json');
        return out;
      },
      (o) => /"files": 1[\s\S]*"files": 1/.test(o),
      { intervalMs: 500 },
    );

    await one.kill9();
    type('show');
    await waitFor(
      'a failover line and the listing',
      () => err + out,
      () =>
        /stopped answering[^\n]*continuing on server 2/.test(err) &&
        /kept\.txt[\s\S]*kept\.txt/.test(out),
    );

    await two.kill9();
    type('show');
    await waitFor(
      'no server, and retrying',
      () => err,
      (e) => e.includes('the shell keeps trying'),
      { timeoutMs: 20_000 },
    );
    // Back at the address the shell knows.
    await cluster.restart(1, { port: two.port });
    await waitFor(
      'told that a server is back',
      () => out,
      (o) => o.includes('A server answers again'),
      { timeoutMs: 20_000 },
    );
    type('bye');
    const code = await new Promise<number | null>((resolve) => shell.once('exit', resolve));
    assert.equal(code, 0, err);
  },
);
