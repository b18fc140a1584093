/**
 * Issue 13's torture found a frozen server (SIGSTOP) serving its old copy the moment
 * it woke: its peers had marked it down and an edit went on without it, and the
 * client's request, queued in its socket, was handled before it heard of the edit.
 * Here a client connected to the copy holder before the freeze asks it for the file
 * the instant it is thawed: it must get the edit, never the old bytes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { runCli } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Reads a file through the client, returning the sha256 of the bytes it got. */
async function read(client: LanfsClient, name: string): Promise<string> {
  const hash = createHash('sha256');
  await client.download(
    name,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done();
      },
    }),
  );
  return hash.digest('hex');
}

test('stale view - a copy holder thawed after an edit went on without it serves the edit, not its old copy', async (t) => {
  // Every server holds every file, so the frozen one surely has the old copy.
  const cluster = await startCluster(t, 3, { args: ['--replicas', '3'] });
  const created = await runCli(['create', 'doc.txt'], { env: cluster.env(0), input: 'old\n' });
  assert.equal(created.code, 0, created.stderr);
  const frozen = cluster.servers[2]!;
  await waitFor(
    'the copy on server 3',
    () => runCli(['show', '--json'], { env: cluster.env(2) }),
    (r) => {
      if (r.code !== 0) return false;
      const [doc] = JSON.parse(r.stdout) as { primary: number; replicas: number[] }[];
      return doc !== undefined && (doc.primary === 3 || doc.replicas.includes(3));
    },
    { timeoutMs: 10_000 },
  );
  const credentials = { key: cluster.key!, insecure: false, cluster: 'lanfs' };
  // A client of the server to be frozen, connected (handshake done) before the freeze.
  const client = await LanfsClient.connect({
    servers: [frozen.address],
    credentials,
  });
  onCleanup(t, () => client.close());
  assert.equal(await read(client, 'doc.txt'), sha('old\n'));

  frozen.child.kill('SIGSTOP');
  onCleanup(t, () => frozen.child.kill('SIGCONT'));
  await cluster.waitUp(3, 0, false);
  const writer = await LanfsClient.connect({ servers: [cluster.servers[0]!.address], credentials });
  onCleanup(t, () => writer.close());
  const [listed] = await writer.list();
  await writer.edit('doc.txt', listed!.version, [Buffer.from('new\n')]);
  // The request is sent while the server is still stopped; it wakes to find it queued.
  const reading = read(client, 'doc.txt');
  frozen.child.kill('SIGCONT');
  const got = await reading;
  assert.equal(got, sha('new\n'), 'the thawed server served its old copy');
});

test('stale view - an edit whose upload spans a freeze of its primary, during which the file was deleted elsewhere, is refused', async (t) => {
  const cluster = await startCluster(t, 3, { args: ['--replicas', '3'] });
  const credentials = { key: cluster.key!, insecure: false, cluster: 'lanfs' };
  const primary = cluster.servers[2]!;
  // Created on server 3: it is the file's primary, where its edits run.
  const created = await runCli(['create', 'doc.txt'], { env: cluster.env(2), input: 'old\n' });
  assert.equal(created.code, 0, created.stderr);
  const editor = await LanfsClient.connect({ servers: [primary.address], credentials });
  onCleanup(t, () => editor.close());
  // The edit's bytes come in two parts; the primary freezes between them.
  let second: () => void = () => undefined;
  const secondPart = new Promise<void>((resolve) => (second = resolve));
  let firstSent: () => void = () => undefined;
  const firstPart = new Promise<void>((resolve) => (firstSent = resolve));
  async function* body(): AsyncIterable<Buffer> {
    yield Buffer.from('new, part one\n');
    firstSent();
    await secondPart;
    yield Buffer.from('new, part two\n');
  }
  const editing = editor.edit('doc.txt', 1, body()).then(
    (record) => ({ record, error: undefined }),
    (error: unknown) => ({ record: undefined, error }),
  );
  await firstPart;
  await new Promise((resolve) => setTimeout(resolve, 200)); // the first part reaches it
  primary.child.kill('SIGSTOP');
  onCleanup(t, () => primary.child.kill('SIGCONT'));
  await cluster.waitUp(3, 0, false);
  const deleted = await runCli(['delete', 'doc.txt'], { env: cluster.env(0) });
  assert.equal(deleted.code, 0, deleted.stderr);
  second();
  primary.child.kill('SIGCONT');
  const outcome = await editing;
  assert.equal(outcome.record, undefined, 'the thawed primary applied an edit of a deleted file');
  // Nothing of the edit lives on: the name stays deleted everywhere.
  await waitFor(
    'every server without doc.txt',
    () => runCli(['show', '--json'], { env: cluster.env(1) }),
    (r) => r.code === 0 && !r.stdout.includes('doc.txt'),
    { timeoutMs: 15_000 },
  );
});

test('stale view - a primary thawed after its file was deleted and the name made anew elsewhere serves the new file', async (t) => {
  const cluster = await startCluster(t, 2, { args: ['--replicas', '2'] });
  const credentials = { key: cluster.key!, insecure: false, cluster: 'lanfs' };
  const frozen = cluster.servers[0]!;
  // Made on server 1: it is the primary, and the lower id, so a rival file of the same
  // name made by server 2 would lose the name to it under the conflict rule.
  const created = await runCli(['create', 'doc.txt'], { env: cluster.env(0), input: 'old\n' });
  assert.equal(created.code, 0, created.stderr);
  const client = await LanfsClient.connect({ servers: [frozen.address], credentials });
  onCleanup(t, () => client.close());
  assert.equal(await read(client, 'doc.txt'), sha('old\n'));

  frozen.child.kill('SIGSTOP');
  onCleanup(t, () => frozen.child.kill('SIGCONT'));
  await cluster.waitUp(1, 1, false);
  // While it stands still: the file deleted (server 1 still owes its copy), the name made anew.
  const deleted = await runCli(['delete', 'doc.txt'], { env: cluster.env(1) });
  assert.equal(deleted.code, 0, deleted.stderr);
  const again = await runCli(['create', 'doc.txt'], { env: cluster.env(1), input: 'new\n' });
  assert.equal(again.code, 0, again.stderr);
  // The request is sent while the server is still stopped; it wakes to find it queued.
  const reading = read(client, 'doc.txt');
  frozen.child.kill('SIGCONT');
  assert.equal(await reading, sha('new\n'), 'the thawed server served the deleted file');
});
