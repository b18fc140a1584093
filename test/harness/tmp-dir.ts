/** A fresh temporary folder per test, removed when the test ends (pass or fail). */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './cli.ts';
import { onCleanup } from './cleanup.ts';

export async function tempDir(t: Cleanup, prefix = 'lanfs-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(t, () => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}

/**
 * Temp files under DIR/.lanfs/tmp that hold bytes. A server keeps a few empty
 * temp files open ahead of need; anything with bytes in it is a leftover upload.
 */
export async function leftoverUploads(dataDir: string): Promise<string[]> {
  const tempDir = join(dataDir, '.lanfs', 'tmp');
  const names = await readdir(tempDir);
  const sizes = await Promise.all(
    names.map(async (n) => (await stat(join(tempDir, n)).catch(() => undefined))?.size ?? 0),
  );
  return names.filter((_, i) => sizes[i]! > 0);
}

/** The names of the files under DIR (what a server exports), sorted; .lanfs left out. */
export async function exportedFiles(dataDir: string): Promise<string[]> {
  return (await readdir(dataDir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes('/.lanfs'))
    .map((e) => join(e.parentPath, e.name).slice(dataDir.length + 1))
    .sort();
}

/**
 * 200 files of random bytes in three folders under root (a, b/deep, c): mostly small,
 * some of hundreds of KiB, two of a few MiB; the tree the rclone tests copy in.
 * Returns their names, relative to root.
 */
export async function makeFileTree(root: string): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < 200; i++) {
    const folder = ['a', 'b/deep', 'c'][i % 3]!;
    const size =
      i < 2 ? 3 * 1024 * 1024 + i : i < 10 ? 200_000 + i * 30_000 : 3 + ((i * 7919) % 40_000);
    const name = `${folder}/file-${i}.bin`;
    await mkdir(join(root, folder), { recursive: true });
    await writeFile(join(root, name), randomBytes(size));
    names.push(name);
  }
  return names;
}
