/**
 * The lock of a data folder: one lanfs process at a time may use a folder. The
 * lock is a file, DIR/.lanfs/lock, holding the owner's pid, address, start time,
 * boot id and a random token; it appears whole or not at all (written beside, then
 * hard-linked into place, which fails if a lock exists). A lock whose process is
 * gone (dead pid, or a pid of an earlier boot) is stale and is taken over, so a
 * crash never leaves a folder locked. The OS reuses pids, and a container restart
 * often gives the new server the pid of the old one: a lock naming our own pid is
 * ours only if this process took it (several servers share one process in tests
 * and `lanfs up`), else it is a leftover of an earlier process and is stale.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DataFolderInUseError, StorageError } from '../shared/errors.ts';

export const LOCK_FILE = join('.lanfs', 'lock');
/** Attempts to take a lock that keeps changing under us (other processes taking it over). */
const MAX_ATTEMPTS = 200;

interface LockContent {
  pid: number;
  address: string;
  startedAt: string;
  bootId: string | undefined;
  token: string;
}

export interface DataFolderLock {
  /** Rewrites the address in the lock (a server learns its port only once it listens). */
  setAddress(address: string): Promise<void>;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** Folders locked by this process, by lock path: a lock with our pid that is not here is stale. */
const heldHere = new Map<string, string>();

async function bootId(): Promise<string | undefined> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return undefined; // not Linux: pids alone decide
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parse(text: string): LockContent | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockContent>;
    if (
      !Number.isSafeInteger(value.pid) ||
      typeof value.token !== 'string' ||
      typeof value.address !== 'string'
    )
      return undefined;
    return value as LockContent;
  } catch {
    return undefined;
  }
}

async function readLock(path: string): Promise<LockContent | undefined | 'absent'> {
  try {
    return parse(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}

/** Writes content beside path and links it into place; false if a lock is already there. */
async function place(path: string, content: LockContent): Promise<boolean> {
  const temp = `${path}.new-${content.token}`;
  await writeFile(temp, `${JSON.stringify(content)}\n`);
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function isStale(path: string, holder: LockContent, ourBoot: string | undefined): boolean {
  if (holder.bootId !== undefined && ourBoot !== undefined && holder.bootId !== ourBoot)
    return true; // written before the machine restarted
  if (holder.pid === process.pid) return heldHere.get(path) !== holder.token;
  return !alive(holder.pid);
}

/** A breaker that left its mark this long ago died while breaking: its mark is removed. */
const BREAK_STALE_MS = 10_000;
/** How long a taker waits while another one breaks the stale lock. */
const BREAK_WAIT_MS = 10;

/**
 * Removes a stale lock, one taker at a time: the first to make the folder beside it
 * (`lock.break`, made whole or not at all) reads the lock again and removes it only if
 * it is still the stale one; the others wait and look again. Renaming the lock aside
 * and linking it back when it had been taken meanwhile left a gap in which a third
 * taker placed its own: two winners (CI, 8 takers at once).
 */
async function removeStale(path: string, stale: LockContent): Promise<void> {
  const mark = `${path}.break`;
  try {
    await mkdir(mark);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const since = await stat(mark).then(
      (st) => Date.now() - st.mtimeMs,
      () => 0,
    );
    if (since > BREAK_STALE_MS) await rmdir(mark).catch(() => undefined);
    else await new Promise((resolve) => setTimeout(resolve, BREAK_WAIT_MS));
    return;
  }
  try {
    const holder = await readLock(path);
    if (holder !== 'absent' && holder?.token === stale.token) await unlink(path);
  } finally {
    await rmdir(mark).catch(() => undefined);
  }
}

/**
 * Takes the lock of the data folder dir for this process, or throws
 * DataFolderInUseError naming the live process that holds it.
 */
export async function lockDataFolder(
  dir: string,
  owner: { address: string },
): Promise<DataFolderLock> {
  const root = resolve(dir);
  const path = join(root, LOCK_FILE);
  try {
    await mkdir(join(root, '.lanfs'), { recursive: true });
  } catch (err) {
    throw new StorageError(
      `Cannot create ${join(root, '.lanfs')} (${(err as Error).message}); check that the --data folder is writable.`,
      { cause: err },
    );
  }
  const ourBoot = await bootId();
  const content: LockContent = {
    pid: process.pid,
    address: owner.address,
    startedAt: new Date().toISOString(),
    bootId: ourBoot,
    token: randomBytes(12).toString('hex'),
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await place(path, content)) {
      heldHere.set(path, content.token);
      return lockHandle(path, content);
    }
    const holder = await readLock(path);
    if (holder === 'absent') continue;
    if (holder === undefined) {
      // Never one of ours (ours appear whole): a damaged file, which locks nothing.
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (!isStale(path, holder, ourBoot))
      throw new DataFolderInUseError(root, holder.pid, holder.address);
    await removeStale(path, holder);
  }
  throw new DataFolderInUseError(root);
}

function lockHandle(path: string, content: LockContent): DataFolderLock {
  let released = false;
  return {
    async setAddress(address) {
      if (released) return;
      content.address = address;
      const temp = `${path}.new-${content.token}`;
      await writeFile(temp, `${JSON.stringify(content)}\n`);
      await rename(temp, path);
    },
    async release() {
      if (released) return;
      released = true;
      if (heldHere.get(path) === content.token) heldHere.delete(path);
      const holder = await readLock(path).catch(() => undefined);
      if (holder !== 'absent' && holder?.token === content.token)
        await unlink(path).catch(() => undefined);
    },
  };
}
