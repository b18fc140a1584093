/**
 * `lanfs edit NAME` (SPEC §2.4): download to a private temp file, open the
 * editor, and upload the result as the next version, naming the version it was
 * based on. If the file changed meanwhile the server refuses (exit 6) and the
 * user's copy is kept and its path printed: no update is ever lost silently.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { validateName } from '../../protocol/file-name.ts';
import { LanfsError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { runEditor } from '../editor.ts';
import { createProgress } from '../progress.ts';
import { withScratchFile } from '../scratch.ts';
import { downloadToFile } from './download.ts';

export async function edit(ctx: CliContext, rawName: string): Promise<void> {
  const name = validateName(rawName);
  const client = await ctx.client();
  await withScratchFile(name, '', async (path, keep) => {
    const base = await downloadToFile(client, name, path, true, ctx);
    const before = await readFile(path);
    await runEditor(path);
    const after = await readFile(path);
    if (before.equals(after)) {
      print(ctx, `No changes to ${name}; nothing uploaded.`);
      return;
    }
    const progress = createProgress(`upload ${name}`, ctx.stderr);
    try {
      const { size } = await stat(path);
      const record = await client.edit(
        name,
        base.version,
        () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
        { size, onProgress: progress.update },
      );
      progress.stop();
      print(ctx, `Saved ${name} as version ${record.version}.`);
    } catch (err) {
      progress.stop();
      // Whatever went wrong, the user's edit must not vanish with the temp folder.
      keep();
      if (err instanceof LanfsError) {
        throw new LanfsError(
          err.code,
          `${err.message} Your edited copy is kept at ${path}; look at the new version and edit again.`,
        );
      }
      throw err;
    }
  });
}
