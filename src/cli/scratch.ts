/**
 * A private temporary folder holding one file named like the lanfs file (so the
 * editor picks the right syntax), removed afterwards unless the caller keeps it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function withScratchFile<T>(
  name: string,
  content: string | Buffer,
  work: (path: string, keep: () => void) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'lanfs-'));
  const path = join(dir, name.split('/').pop()!);
  let kept = false;
  try {
    await writeFile(path, content, { mode: 0o600 });
    return await work(path, () => {
      kept = true;
    });
  } finally {
    if (!kept) await rm(dir, { recursive: true, force: true });
  }
}
