/**
 * `lanfs show --names` and LanfsClient.listNames (issue 16: listing many names
 * fast): the same names in the same order as the full listing, from any server,
 * with --prefix, --limit and --after, as lines or a JSON array; a deleted file is
 * not among them.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { runCli } from '../harness/cli.ts';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';

test('show --names lists the names the full listing lists, in order, every way it pages', async (t) => {
  // Each server adopts files from its own folder: the names are spread over both.
  const c = await startCluster(t, 2, {
    args: ['--replicas', '1'],
    seed: async (dir, i) => {
      for (const folder of ['a', 'b', 'c']) {
        await mkdir(join(dir, folder), { recursive: true });
        for (let f = 0; f < 7; f++)
          await writeFile(join(dir, folder, `s${i + 1}-${f}.txt`), `${folder} ${i} ${f}`);
      }
    },
  });
  const gone = await runCli(['delete', 'b/s2-3.txt'], { env: c.env(0) });
  assert.equal(gone.code, 0, gone.stderr);
  const full = await runCli(['show', '--json'], { env: c.env(1) });
  assert.equal(full.code, 0, full.stderr);
  const all = (JSON.parse(full.stdout) as { name: string }[]).map((f) => f.name);
  assert.equal(all.length, 41);
  assert.ok(!all.includes('b/s2-3.txt'));

  for (const server of [0, 1]) {
    const lines = await runCli(['show', '--names'], { env: c.env(server) });
    assert.equal(lines.code, 0, lines.stderr);
    assert.equal(lines.stdout, `${all.join('\n')}\n`);
  }
  const json = await runCli(['show', '--names', '--json', '--prefix', 'b/'], { env: c.env(0) });
  assert.deepEqual(
    JSON.parse(json.stdout),
    all.filter((n) => n.startsWith('b/')),
  );
  const page = await runCli(['show', '--names', '--limit', '5', '--after', 'a/s2-6.txt'], {
    env: c.env(1),
  });
  const from = all.indexOf('a/s2-6.txt') + 1;
  assert.equal(page.stdout, `${all.slice(from, from + 5).join('\n')}\n`);
  const none = await runCli(['show', '--names', '--json', '--prefix', 'zzz/'], { env: c.env(0) });
  assert.equal(none.stdout, '[]\n');

  // The library, a few names a request: pages follow on from the last name each time.
  const client = await LanfsClient.connect({
    servers: [c.servers[0]!.address],
    credentials: { key: TEST_KEY, insecure: false, cluster: 'lanfs' },
  });
  t.after(() => client.close());
  const listed: string[] = [];
  for (let after: string | undefined; ;) {
    let got = 0;
    for await (const names of client.listNames({ limit: 4, ...(after ? { after } : {}) })) {
      listed.push(...names);
      got += names.length;
      after = names.at(-1) ?? after;
    }
    if (got < 4) break;
  }
  assert.deepEqual(listed, all);
});
