import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DataFolderInUseError } from '../shared/errors.ts';
import { LOCK_FILE, lockDataFolder } from './data-lock.ts';

async function dataDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeLock(dir: string, pid: number, address = '10.0.0.9:7070'): Promise<void> {
  await mkdir(join(dir, '.lanfs'), { recursive: true });
  await writeFile(
    join(dir, LOCK_FILE),
    JSON.stringify({ pid, address, startedAt: new Date().toISOString(), token: 'aa11' }),
  );
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

test('data lock - a second lock of a folder in use names the holder; after release it is free', async (t) => {
  const dir = await dataDir(t);
  const lock = await lockDataFolder(dir, { address: '127.0.0.1:7070' });
  await lock.setAddress('127.0.0.1:40001');
  const held = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as { pid: number };
  assert.equal(held.pid, process.pid);
  await assert.rejects(lockDataFolder(dir, { address: '127.0.0.1:7071' }), (err) => {
    assert.ok(err instanceof DataFolderInUseError);
    assert.equal(err.code, 'LANFS_ERR_DATA_FOLDER_IN_USE');
    assert.match(
      err.message,
      new RegExp(`process ${process.pid} \\(serving at 127.0.0.1:40001\\)`),
    );
    return true;
  });
  await lock.release();
  const again = await lockDataFolder(dir, { address: '127.0.0.1:7071' });
  await again.release();
  assert.deepEqual(await readdir(join(dir, '.lanfs')), []);
});

test('data lock - a lock held by another live process is refused', async (t) => {
  const dir = await dataDir(t);
  await writeLock(dir, process.ppid);
  await assert.rejects(
    lockDataFolder(dir, { address: 'x' }),
    new RegExp(`process ${process.ppid} \\(serving at 10.0.0.9:7070\\)`),
  );
});

test('data lock - a stale lock (dead pid, or our pid left by an earlier process) is taken over', async (t) => {
  const dir = await dataDir(t);
  await writeLock(dir, await deadPid());
  const first = await lockDataFolder(dir, { address: 'a' });
  await first.release();
  // A container restart gives the new process the pid of the old one.
  await writeLock(dir, process.pid);
  const second = await lockDataFolder(dir, { address: 'b' });
  const held = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as { address: string };
  assert.equal(held.address, 'b');
  await second.release();
});

test('data lock - of many takers of one stale lock at once, exactly one wins', async (t) => {
  const dir = await dataDir(t);
  await writeLock(dir, await deadPid());
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => lockDataFolder(dir, { address: `n${i}` })),
  );
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  for (const r of results)
    if (r.status === 'rejected') assert.ok(r.reason instanceof DataFolderInUseError);
  await won[0]!.value.release();
});
