/**
 * `lanfs create NAME [--from PATH]`: the content comes from PATH, else from
 * stdin when it is not a terminal, else from the user's editor (left empty, it
 * creates nothing: exit 0, one line saying so). The name is checked before
 * anything is read or sent.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { UploadSource } from '../../client/client.ts';
import { validateName } from '../../protocol/file-name.ts';
import { NameExistsError, UsageError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { runEditor } from '../editor.ts';
import { formatBytes } from '../format.ts';
import { createProgress } from '../progress.ts';
import { withScratchFile } from '../scratch.ts';

export async function create(
  ctx: CliContext,
  rawName: string,
  options: { from?: string },
): Promise<void> {
  const name = validateName(rawName);
  if (options.from !== undefined) return await upload(ctx, name, options.from);
  if (!ctx.inShell && !ctx.stdin.isTTY) return await uploadStream(ctx, name, ctx.stdin, null);
  await withScratchFile(name, '', async (path) => {
    // Ask the server first, so nobody writes a page of text for a name that is taken.
    const client = await ctx.client();
    if ((await client.list()).some((r) => r.name === name)) throw new NameExistsError(name);
    await runEditor(path);
    // Left empty, as a quit without saving leaves it: the user chose not to create it.
    if ((await stat(path)).size === 0) {
      const empty = `${ctx.inShell ? '' : 'lanfs '}create ${name} --from /dev/null`;
      print(ctx, `Nothing written; ${name} was not created (for an empty file: ${empty}).`);
      return;
    }
    await upload(ctx, name, path);
  });
}

async function upload(ctx: CliContext, name: string, path: string): Promise<void> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new UsageError(`${path} is not a regular file.`);
    size = st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `Cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
  await uploadStream(ctx, name, () => createReadStream(path, { highWaterMark: 1024 * 1024 }), size);
}

async function uploadStream(
  ctx: CliContext,
  name: string,
  /** A function for a file (read again if the server dies midway); a stream for stdin. */
  source: UploadSource | (() => UploadSource),
  size: number | null,
): Promise<void> {
  const client = await ctx.client();
  const progress = createProgress(`create ${name}`, ctx.stderr);
  try {
    const record = await client.create(name, source, { size, onProgress: progress.update });
    progress.stop();
    print(
      ctx,
      `Created ${name} (${formatBytes(record.size)}, version ${record.version}) on server ${record.primary}.`,
    );
  } finally {
    progress.stop();
  }
}
