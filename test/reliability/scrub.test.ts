/**
 * Scrub and repair (issue 13 part 3, RELIABILITY.md A6) with real server
 * processes: a byte flipped in one holder's copy on disk is found by
 * `lanfs scrub --now`, its bytes kept under .lanfs/quarantine/ and the copy
 * repaired from the other holder; with one copy only, the damaged file is kept
 * where it is and reported. `show --json` says per file what the scrubs found.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { tempDir } from '../harness/tmp-dir.ts';

interface Listed {
  name: string;
  sha256: string;
  primary: number;
  replicas: number[];
  verified: { copies: number; verifiedCopies: number; at: number | null; bad: number[] };
}

interface ScrubJson {
  files: number;
  bad: number;
  repaired: number;
  unrepaired: { serverId: number; name: string }[];
}

async function cli(cluster: TestCluster, args: string[]): Promise<string> {
  const result = await runCli(args, { env: cluster.env(0) });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

async function flipByte(path: string, at: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function quarantined(data: string): Promise<string[]> {
  return await readdir(join(data, '.lanfs', 'quarantine')).catch(() => []);
}

test('a byte flipped in one copy is found by scrub, quarantined and repaired from the other holder', async (t) => {
  const cluster = await startCluster(t, 3, { args: ['--replicas', '2', '--scrub-rate', '0'] });
  const source = join(await tempDir(t), 'photo.bin');
  const original = randomBytes(300 * 1024);
  await writeFile(source, original);
  await cli(cluster, ['create', 'album/photo.bin', '--from', source]);
  const [file] = JSON.parse(await cli(cluster, ['show', '--json'])) as Listed[];
  assert.ok(file);
  const damagedId = file.replicas[0]!;
  const damagedData = cluster.data(cluster.ids.indexOf(damagedId));
  await flipByte(join(damagedData, 'album', 'photo.bin'), 1000);

  const report = JSON.parse(await cli(cluster, ['scrub', '--now', '--json'])) as ScrubJson;
  assert.equal(report.bad, 1, JSON.stringify(report));
  assert.equal(report.repaired, 1);
  assert.equal(report.files, 2, 'each of the two copies checked once');
  assert.deepEqual(report.unrepaired, []);

  // The repaired copy has the good bytes; the damaged ones are kept in quarantine.
  assert.equal(sha(await readFile(join(damagedData, 'album', 'photo.bin'))), sha(original));
  const kept = await quarantined(damagedData);
  assert.equal(kept.length, 1);
  const keptBytes = await readFile(join(damagedData, '.lanfs', 'quarantine', kept[0]!));
  assert.notEqual(sha(keptBytes), sha(original));
  assert.equal(keptBytes.length, original.length);

  const [after] = JSON.parse(await cli(cluster, ['show', '--json'])) as Listed[];
  assert.equal(after!.verified.copies, 2);
  assert.equal(after!.verified.verifiedCopies, 2);
  assert.deepEqual(after!.verified.bad, []);
  assert.ok(after!.verified.at !== null && after!.verified.at <= Date.now());
  assert.match(await cli(cluster, ['show']), /verified on 2\/2 copies/);
  // A second pass finds nothing.
  const again = JSON.parse(await cli(cluster, ['scrub', '--now', '--json'])) as ScrubJson;
  assert.equal(again.bad, 0);
});

test('the last copy found damaged is kept in place and reported, never removed', async (t) => {
  const cluster = await startCluster(t, 2, { args: ['--replicas', '1', '--scrub-rate', '0'] });
  const source = join(await tempDir(t), 'only.bin');
  await writeFile(source, randomBytes(100 * 1024));
  await cli(cluster, ['create', 'only.bin', '--from', source]);
  const [file] = JSON.parse(await cli(cluster, ['show', '--json'])) as Listed[];
  const data = cluster.data(cluster.ids.indexOf(file!.primary));
  await flipByte(join(data, 'only.bin'), 5);
  const damaged = await readFile(join(data, 'only.bin'));

  const report = JSON.parse(await cli(cluster, ['scrub', '--now', '--json'])) as ScrubJson;
  assert.equal(report.bad, 1);
  assert.equal(report.repaired, 0);
  assert.deepEqual(report.unrepaired, [{ serverId: file!.primary, name: 'only.bin' }]);
  assert.deepEqual(await readFile(join(data, 'only.bin')), damaged, 'left as it was');
  assert.deepEqual(await quarantined(data), []);

  const [after] = JSON.parse(await cli(cluster, ['show', '--json'])) as Listed[];
  assert.deepEqual(after!.verified.bad, [file!.primary]);
  assert.equal(after!.verified.verifiedCopies, 0);
  assert.match(await cli(cluster, ['show']), /damaged copy on server/);
  assert.match(await cli(cluster, ['scrub']), /Damaged and not repaired on server \d+: only\.bin/);
});

test('the dashboard and /api/files say what the scrubs found of each file', async (t) => {
  const cluster = await startCluster(t, 2, {
    args: ['--replicas', '2', '--scrub-rate', '0', '--http-port', '0'],
  });
  await runCli(['create', 'notes.txt'], { env: cluster.env(0), input: 'checked twice\n' });
  await cli(cluster, ['scrub', '--now', '--json']);
  const base = `http://127.0.0.1:${cluster.servers[0]!.httpPort}`;
  const headers = { Authorization: `Bearer ${cluster.key}` };
  const files = (await (await fetch(`${base}/api/files`, { headers })).json()) as Listed[];
  assert.equal(files.length, 1);
  assert.equal(files[0]!.verified.copies, 2);
  assert.equal(files[0]!.verified.verifiedCopies, 2);
  assert.deepEqual(files[0]!.verified.bad, []);
  // The page renders the same words as `lanfs show` from that field.
  const page = await (await fetch(`${base}/`)).text();
  assert.match(page, /<th>Verified<\/th>/);
  assert.match(page, /verifiedText\(f\.verified\)/);
});
