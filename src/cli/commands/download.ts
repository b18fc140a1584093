/**
 * `lanfs download NAME [-o PATH|-] [--force]`: the bytes go to a temp file
 * beside PATH and are moved into place only once their sha256 checks out, so a
 * failed download never leaves a partial file; an existing PATH is kept unless
 * --force. `-o -` streams to stdout (checked at the end: exit 1 on a mismatch).
 */
import { createWriteStream } from 'node:fs';
import { link, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { LanfsClient } from '../../client/client.ts';
import type { FileRecord } from '../../protocol/messages.ts';
import { LocalFileExistsError, UsageError } from '../../shared/errors.ts';
import { note, type CliContext } from '../context.ts';
import { formatBytes } from '../format.ts';
import { createProgress } from '../progress.ts';
import { splitVersion } from './history.ts';

/** How much the local file may lag behind the network before reading pauses: big
 *  enough that the disk always has work while the next bytes arrive. */
const DOWNLOAD_BUFFER_BYTES = 8 * 1024 * 1024;

export async function download(
  ctx: CliContext,
  rawName: string,
  options: { output?: string; force?: boolean },
): Promise<void> {
  const { name, version } = splitVersion(rawName);
  const client = await ctx.client();
  if (options.output === '-') {
    await client.download(name, ctx.stdout, { version });
    return;
  }
  const target = options.output ?? basename(name);
  const record = await downloadToFile(client, name, target, options.force === true, ctx, version);
  note(
    ctx,
    `Downloaded ${name} (${formatBytes(record.size)}, version ${record.version}) to ${target}.`,
  );
}

/** Downloads name into path atomically; refuses to replace an existing path unless force. */
export async function downloadToFile(
  client: LanfsClient,
  name: string,
  path: string,
  force: boolean,
  ctx: CliContext,
  version?: number,
): Promise<FileRecord> {
  const temp = join(dirname(path), `.${basename(path)}.lanfs-${randomBytes(4).toString('hex')}`);
  const sink = createWriteStream(temp, {
    flags: 'wx',
    mode: 0o644,
    highWaterMark: DOWNLOAD_BUFFER_BYTES,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      sink.once('open', () => resolve());
      sink.once('error', reject);
    });
  } catch (err) {
    throw new UsageError(
      `Cannot write in ${dirname(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'}); choose another place with -o.`,
    );
  }
  const progress = createProgress(`download ${name}`, ctx.stderr);
  try {
    const record = await client.download(name, sink, { onProgress: progress.update, version });
    sink.end();
    await finished(sink);
    progress.stop();
    if (force) {
      await rename(temp, path);
    } else {
      try {
        await link(temp, path); // fails instead of replacing an existing file
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new LocalFileExistsError(path);
        throw err;
      }
      await unlink(temp);
    }
    return record;
  } catch (err) {
    progress.stop();
    sink.destroy();
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
