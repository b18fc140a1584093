/** `lanfs delete NAME`: removes the file from its primary and every copy. */
import { validateName } from '../../protocol/file-name.ts';
import { print, type CliContext } from '../context.ts';

export async function deleteFile(ctx: CliContext, rawName: string): Promise<void> {
  const name = validateName(rawName);
  await (await ctx.client()).delete(name);
  print(ctx, `Deleted ${name}.`);
}
