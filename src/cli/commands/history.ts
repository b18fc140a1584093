/**
 * `lanfs history NAME [--json]`, `lanfs restore NAME@N`: the versions a live
 * holder of the file keeps (DIR/.lanfs/versions/ there), and bringing one back.
 * A restore uploads that version's bytes as the next version (an edit from the
 * current one): history is never rewritten, so a restore can itself be undone.
 */
import { validateName } from '../../protocol/file-name.ts';
import type { FileRecord } from '../../protocol/messages.ts';
import { UsageError } from '../../shared/errors.ts';
import { print, type CliContext } from '../context.ts';
import { formatBytes, table } from '../format.ts';

/** `NAME@3` → name and version; a name without a trailing `@N` is the newest version. */
export function splitVersion(text: string): { name: string; version?: number } {
  const m = /^(.*)@(\d{1,9})$/.exec(text);
  if (!m) return { name: validateName(text) };
  return { name: validateName(m[1]!), version: Number(m[2]) };
}

export interface HistoryLine {
  version: number;
  size: number;
  sha256: string;
  modifiedAt: number;
  writtenBy?: string;
  current: boolean;
}

export async function history(
  ctx: CliContext,
  rawName: string,
  options: { json?: boolean },
): Promise<void> {
  const name = validateName(rawName);
  const answer = await (await ctx.client()).history(name);
  const line = (record: FileRecord, current: boolean): HistoryLine => ({
    version: record.version,
    size: record.size,
    sha256: record.sha256,
    modifiedAt: record.modifiedAt,
    ...(record.writtenBy ? { writtenBy: record.writtenBy } : {}),
    current,
  });
  const lines = [line(answer.current, true), ...answer.kept.map((e) => line(e.record, false))];
  if (options.json) {
    print(ctx, JSON.stringify(lines, null, 2));
    return;
  }
  print(
    ctx,
    table([
      ['VERSION', 'SIZE', 'WRITTEN', 'BY', 'SHA256'],
      ...lines.map((l) => [
        `${l.version}${l.current ? ' (current)' : ''}`,
        formatBytes(l.size),
        new Date(l.modifiedAt).toLocaleString(),
        l.writtenBy ?? '-',
        l.sha256.slice(0, 16),
      ]),
    ]),
  );
}

export async function restore(ctx: CliContext, target: string): Promise<void> {
  const { name, version } = splitVersion(target);
  if (version === undefined)
    throw new UsageError(
      `Say which version to restore, like ${name}@3; "lanfs history ${name}" lists them.`,
    );
  const record = await (await ctx.client()).restore(name, version);
  print(ctx, `Restored ${name} version ${version} as version ${record.version}.`);
}
