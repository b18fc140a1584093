/** `lanfs delete NAME`: removes the file from its primary and every copy. */
import { validateName } from '../../protocol/file-name.ts';
import { note, print, type CliContext } from '../context.ts';

export async function deleteFile(
  ctx: CliContext,
  rawName: string,
  options: { purge?: boolean } = {},
): Promise<void> {
  const name = validateName(rawName);
  await (await ctx.client()).delete(name, options);
  print(ctx, `Deleted ${name}.`);
  if (!options.purge) note(ctx, `"lanfs undelete ${name}" brings it back from the trash.`);
}
