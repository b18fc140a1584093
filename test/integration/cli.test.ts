/**
 * Every command of SPEC §3 through the real `lanfs` executable against a real
 * server process over a real directory: outputs, exit codes and what is (and is
 * not) left on disk.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  LANFS_BIN,
  runCli,
  startServer,
  suiteCleanup,
  type ServerProcess,
} from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'test-cluster-key';

/** All file paths under dir, relative, sorted (including .lanfs contents). */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .filter((p) => !p.startsWith('.lanfs/state.db'))
    .sort();
}

async function editorScript(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

describe('cli - against one server', () => {
  const suite = suiteCleanup(after);
  let server: ServerProcess;
  let data: string;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const lanfs = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    runCli(args, { cwd: work, input: options.input, env: { ...env, ...options.env } });

  before(async () => {
    data = await tempDir(suite);
    work = await tempDir(suite);
    await mkdir(join(data, 'docs'));
    await writeFile(join(data, 'docs', 'readme.txt'), 'already here\n');
    server = await startServer(suite, ['--data', data, '--id', '1', '--key', KEY]);
    // Edit copies (kept when an upload is refused) go to the suite's work folder, removed with it.
    env = { LANFS_SERVER: server.address, LANFS_KEY: KEY, TMPDIR: work };
  });

  test('show - lists files found in the directory at start-up', async () => {
    const result = await lanfs(['show']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /docs\/readme\.txt\s+13 B\s+v1\s+server 1/);
  });

  test('show --json - one array with the fields of SPEC §3', async () => {
    const result = await lanfs(['show', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const records = JSON.parse(result.stdout) as Record<string, unknown>[];
    const readme = records.find((r) => r.name === 'docs/readme.txt');
    assert.ok(readme);
    for (const key of ['name', 'size', 'version', 'sha256', 'primary', 'replicas', 'available'])
      assert.ok(key in readme, key);
    assert.equal(readme.size, 13);
    assert.equal(readme.primary, 1);
    assert.deepEqual(readme.replicas, []);
  });

  test('create - from stdin, from --from, and refuses an existing name (exit 4, old bytes untouched)', async () => {
    let result = await lanfs(['create', 'notes/stdin.txt'], { input: 'from stdin\n' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(data, 'notes', 'stdin.txt'), 'utf8'), 'from stdin\n');

    await writeFile(join(work, 'local.txt'), 'from a file\n');
    result = await lanfs(['create', 'notes/file.txt', '--from', 'local.txt']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Created notes\/file\.txt/);

    result = await lanfs(['create', 'notes/file.txt'], { input: 'other bytes\n' });
    assert.equal(result.code, 4);
    assert.match(result.stderr, /already exists; choose another name/);
    assert.equal(await readFile(join(data, 'notes', 'file.txt'), 'utf8'), 'from a file\n');
  });

  test('create - invalid names exit 2 and write nothing anywhere', async () => {
    const before = await tree(data);
    for (const name of [
      '../escape',
      '/etc/passwd',
      'a//b',
      'a/./b',
      'a\\b',
      '.lanfs/x',
      'trailing/',
      'ctl\u0001x',
      'x'.repeat(1025),
    ]) {
      const result = await lanfs(['create', name], { input: 'bytes' });
      assert.equal(result.code, 2, `${name}: ${result.stderr}`);
      assert.match(result.stderr, /^lanfs: /);
    }
    assert.deepEqual(await tree(data), before);
  });

  test('download - to a file, refusing to overwrite without --force, and to stdout', async () => {
    await lanfs(['create', 'dl/hello.txt'], { input: 'hello world\n' });
    let result = await lanfs(['download', 'dl/hello.txt']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(work, 'hello.txt'), 'utf8'), 'hello world\n');

    await writeFile(join(work, 'hello.txt'), 'my local work\n');
    result = await lanfs(['download', 'dl/hello.txt']);
    assert.equal(result.code, 4);
    assert.match(result.stderr, /--force/);
    assert.equal(await readFile(join(work, 'hello.txt'), 'utf8'), 'my local work\n');
    assert.deepEqual(
      (await readdir(work)).filter((f) => f.includes('lanfs-')),
      [],
      'no temp file left behind',
    );

    result = await lanfs(['download', 'dl/hello.txt', '--force']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(work, 'hello.txt'), 'utf8'), 'hello world\n');

    result = await lanfs(['download', 'dl/hello.txt', '-o', '-']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hello world\n');
  });

  test('download / delete / edit - a missing file exits 3', async () => {
    for (const args of [
      ['download', 'nope.txt'],
      ['delete', 'nope.txt'],
      ['edit', 'nope.txt'],
    ]) {
      const result = await lanfs(args, { env: { EDITOR: 'true' } });
      assert.equal(result.code, 3, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /No file named "nope.txt"/);
    }
  });

  test('edit - through $EDITOR becomes version 2', async () => {
    await lanfs(['create', 'edit/me.txt'], { input: 'first line\n' });
    const editor = await editorScript(work, 'append.sh', 'echo "second line" >> "$1"');
    const result = await lanfs(['edit', 'edit/me.txt'], { env: { EDITOR: editor } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /version 2/);
    assert.equal(await readFile(join(data, 'edit', 'me.txt'), 'utf8'), 'first line\nsecond line\n');
    const records = JSON.parse((await lanfs(['show', '--json'])).stdout) as {
      name: string;
      version: number;
    }[];
    assert.equal(records.find((r) => r.name === 'edit/me.txt')?.version, 2);
  });

  test('edit - an editor with arguments runs through the shell; no change uploads nothing', async () => {
    await lanfs(['create', 'edit/same.txt'], { input: 'unchanged\n' });
    const result = await lanfs(['edit', 'edit/same.txt'], {
      env: { EDITOR: 'touch -c', VISUAL: '' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /No changes/);
  });

  test("edit - based on a stale version exits 6 and keeps the user's copy", async () => {
    await lanfs(['create', 'edit/race.txt'], { input: 'v1\n' });
    // While this edit is open, someone else saves version 2; then our editor saves.
    const other = await editorScript(work, 'other.sh', 'echo "their change" > "$1"');
    const mine = await editorScript(
      work,
      'mine.sh',
      // --force: our own edit holds the file's lease meanwhile; the version check is what is tested.
      `EDITOR=${other} "${process.execPath}" "${LANFS_BIN}" edit --force edit/race.txt >/dev/null || exit 1\necho "my change" > "$1"`,
    );
    const result = await lanfs(['edit', 'edit/race.txt'], { env: { EDITOR: mine } });
    assert.equal(result.code, 6, result.stderr);
    assert.match(result.stderr, /changed while you edited it/);
    const kept = /kept at (\S+);/.exec(result.stderr)?.[1];
    assert.ok(kept, result.stderr);
    assert.equal(await readFile(kept, 'utf8'), 'my change\n');
    assert.equal(await readFile(join(data, 'edit', 'race.txt'), 'utf8'), 'their change\n');
  });

  test('edit - an editor that fails uploads nothing', async () => {
    await lanfs(['create', 'edit/fail.txt'], { input: 'keep\n' });
    const editor = await editorScript(work, 'fail.sh', 'echo junk > "$1"; exit 3');
    const result = await lanfs(['edit', 'edit/fail.txt'], { env: { EDITOR: editor } });
    assert.equal(result.code, 2);
    assert.equal(await readFile(join(data, 'edit', 'fail.txt'), 'utf8'), 'keep\n');
  });

  test('delete - removes the file and its empty folder', async () => {
    await lanfs(['create', 'gone/soon.txt'], { input: 'bye\n' });
    const result = await lanfs(['delete', 'gone/soon.txt']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await readdir(data)).includes('gone'), false);
    assert.equal((await lanfs(['download', 'gone/soon.txt'])).code, 3);
  });

  test('status - shows the server; --json has servers with id, address, up, files', async () => {
    let result = await lanfs(['status']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`1\\s+${server.address.replace(/\./g, '\\.')}\\s+up`));
    result = await lanfs(['status', '--json']);
    const status = JSON.parse(result.stdout) as {
      servers: { id: number; address: string; up: boolean; files: number }[];
    };
    assert.equal(status.servers.length, 1);
    // The documented keys (README's status --json schema), and space: this server answered.
    assert.deepEqual(Object.keys(status.servers[0]!).sort(), [
      'address',
      'files',
      'id',
      'space',
      'up',
    ]);
    assert.equal(status.servers[0]!.up, true);
  });

  test('keys - a wrong or missing key exits 7; --key-file works', async () => {
    let result = await lanfs(['show'], { env: { LANFS_KEY: 'wrong' } });
    assert.equal(result.code, 7);
    assert.match(result.stderr, /key/);
    result = await runCli(['show', '--server', server.address], { cwd: work });
    assert.equal(result.code, 7);
    assert.match(result.stderr, /needs the cluster key/);
    await writeFile(join(work, 'keyfile'), `${KEY}\n`);
    result = await runCli(
      ['show', '--server', server.address, '--key-file', join(work, 'keyfile')],
      { cwd: work },
    );
    assert.equal(result.code, 0, result.stderr);
  });

  test('keys - a wrong key says it does not match the cluster and where it came from', async () => {
    let result = await lanfs(['show'], { env: { LANFS_KEY: 'wrong' } });
    assert.equal(result.code, 7);
    assert.match(result.stderr, /key given with LANFS_KEY does not match the cluster's key/);
    assert.doesNotMatch(result.stderr, /did not prove/);
    result = await lanfs(['show', '--key', 'wrong']);
    assert.equal(result.code, 7);
    assert.match(result.stderr, /key given with --key does not match the cluster's key/);
    await writeFile(join(work, 'wrong.key'), 'wrong\n');
    result = await runCli(['show', '--server', server.address, '--key-file', 'wrong.key'], {
      cwd: work,
    });
    assert.equal(result.code, 7);
    assert.match(result.stderr, /key given with --key-file wrong\.key does not match/);
  });

  test('keys - --key-file on the command line wins over LANFS_KEY; --key with --key-file is refused', async () => {
    await writeFile(join(work, 'right.key'), `${KEY}\n`);
    let result = await lanfs(['--key-file', 'right.key', 'show'], {
      env: { LANFS_KEY: 'from-the-environment' },
    });
    assert.equal(result.code, 0, result.stderr);
    result = await lanfs(['show', '--key-file', 'right.key'], {
      env: { LANFS_KEY: 'from-the-environment' },
    });
    assert.equal(result.code, 0, result.stderr);
    result = await lanfs(['show', '--key', KEY, '--key-file', 'right.key']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /not both/);
  });

  test('options - --version; client options before the command; its own after it win', async () => {
    const pkg = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      version: string;
    };
    let result = await runCli(['--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), pkg.version);
    result = await runCli(['-v', '--server', server.address, '--key', KEY, 'show'], { cwd: work });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /docs\/readme\.txt/);
    assert.match(result.stderr, /Connected to server 1/);
    result = await runCli(['--key', 'wrong', 'show', '--server', server.address, '--key', KEY]);
    assert.equal(result.code, 0, result.stderr);
    result = await runCli(['--server', '127.0.0.1:1', 'up']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--server does not apply to "lanfs up"/);
  });

  test('usage - unknown commands and missing arguments exit 2', async () => {
    assert.equal((await lanfs(['frobnicate'])).code, 2);
    assert.equal((await lanfs(['create'])).code, 2);
    assert.equal((await lanfs(['--help'])).code, 0);
  });
});

describe('cli - without a server', () => {
  test('no server reachable exits 5 with a clear sentence', async () => {
    const result = await runCli(['show', '--server', '127.0.0.1:1', '--key', KEY]);
    assert.equal(result.code, 5);
    assert.match(result.stderr, /No lanfs server answered/);
  });

  test('server - refuses to start without a key, and with another --id for its directory', async (t) => {
    const data = await tempDir(t);
    let result = await runCli(['server', '--data', data, '--id', '1', '--port', '0']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /needs the cluster key/);

    result = await runCli(['server', '--data', data, '--port', '0', '--insecure']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--id/);

    const server = await startServer(t, ['--data', data, '--id', '3', '--insecure']);
    await server.stop();
    result = await runCli(['server', '--data', data, '--id', '4', '--port', '0', '--insecure']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /belongs to server 3/);
  });
});

describe('cli - README', () => {
  test('README names every option of lanfs server --help, and no option that is only coming', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const help = await runCli(['server', '--help']);
    assert.equal(help.code, 0, help.stderr);
    const options = [...new Set(help.stdout.match(/--[a-z][a-z-]+/g))].filter(
      (o) => o !== '--help',
    );
    assert.ok(options.length > 10, help.stdout);
    for (const option of options) assert.ok(readme.includes(option), `README lacks ${option}`);
    const variables = [...new Set(help.stdout.match(/LANFS_[A-Z_]+/g))];
    assert.ok(variables.includes('LANFS_LOG_FORMAT'), help.stdout);
    for (const name of variables) assert.ok(readme.includes(name), `README lacks ${name}`);
    assert.doesNotMatch(readme, /coming web issue/);
    assert.doesNotMatch(readme, /npx lanfs (?!works only)/, 'npx lanfs fails outside the folder');
  });

  test('README documents every key of status --json', async (t) => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const schema = /`--json` prints\s+`(\{"servers"[^`]*)`/.exec(readme)?.[1];
    assert.ok(schema, 'the status --json schema in README');
    const server = await startServer(t, [
      '--data',
      await tempDir(t),
      '--id',
      '1',
      '--key',
      KEY,
      '--http-port',
      '0',
    ]);
    const result = await runCli(['status', '--json'], {
      env: { LANFS_SERVER: server.address, LANFS_KEY: KEY },
    });
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as { servers: Record<string, unknown>[] };
    for (const key of [...Object.keys(status), ...Object.keys(status.servers[0]!)])
      assert.ok(schema.includes(`"${key}"`), `README's status --json lacks "${key}"`);
  });
});

describe('cli - a holder down', () => {
  test('show marks down holders; status lists files below their copies by name and says when healing starts', async (t) => {
    const cluster = await startCluster(t, 3, { args: ['--heal-after', '600000'] });
    const env = cluster.env(0);
    for (const name of ['z.txt', 'y.txt', 'a.txt', 'm.txt']) {
      const result = await runCli(['create', name], { env, input: `${name}\n` });
      assert.equal(result.code, 0, result.stderr);
    }
    // The copies go to servers 2 and 3; take away the one holding more of them.
    const records = await waitFor(
      'every file with its copy',
      async () =>
        JSON.parse((await runCli(['show', '--json'], { env })).stdout) as {
          name: string;
          replicas: number[];
        }[],
      (list) => list.length === 4 && list.every((r) => r.replicas.length === 1),
    );
    const held = (id: number) => records.filter((r) => r.replicas.includes(id)).map((r) => r.name);
    const gone = held(2).length >= held(3).length ? 2 : 3;
    await cluster.stop(gone - 1);
    await waitFor(
      'the stopped server marked down',
      () => cluster.upIds(0),
      (up) => !up.includes(gone),
    );

    const show = await runCli(['show'], { env });
    assert.equal(show.code, 0, show.stderr);
    for (const name of held(gone))
      assert.match(
        show.stdout,
        new RegExp(`${name.replace('.', '\\.')}.*server ${gone} \\(DOWN\\)`),
      );

    const status = await runCli(['status'], { env });
    assert.equal(status.code, 0, status.stderr);
    const section = /Below 2 copies: (\d+) files? \(([^\n]*)\):\n((?: {2}\S+\n?)+)/.exec(
      status.stdout,
    );
    assert.ok(section, status.stdout);
    const listed = section[3]!.trim().split(/\s+/);
    assert.deepEqual(listed, [...held(gone)].sort());
    assert.match(
      section[2]!,
      new RegExp(`server ${gone} is down: copies are made again elsewhere in (9|10) min`),
    );
    assert.doesNotMatch(status.stdout, /copies are being made/);
  });
});
