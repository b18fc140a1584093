/**
 * `lanfs edit NAME` (SPEC §2.4): download to a private temp file, open the
 * editor, and upload the result as the next version, naming the version it was
 * based on. If the file changed meanwhile the server refuses (exit 6) and the
 * user's copy is kept and its path printed: no update is ever lost silently.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { LanfsClient } from '../../client/client.ts';
import { LEASE_RENEW_MS, type Lease } from '../../protocol/messages.ts';
import { readFile, stat } from 'node:fs/promises';
import { validateName } from '../../protocol/file-name.ts';
import { LanfsError } from '../../shared/errors.ts';
import { note, print, type CliContext } from '../context.ts';
import { runEditor } from '../editor.ts';
import { createProgress } from '../progress.ts';
import { withScratchFile } from '../scratch.ts';
import { downloadToFile } from './download.ts';

export async function edit(
  ctx: CliContext,
  rawName: string,
  options: { force?: boolean } = {},
): Promise<void> {
  const name = validateName(rawName);
  const client = await ctx.client();
  const lease = await holdLease(ctx, client, name, options.force === true);
  try {
    await editHeld(ctx, client, name);
  } finally {
    await lease.release();
  }
}

/** "being edited on HOST since 10:42" */
export function editedBy(lease: Lease): string {
  const since = new Date(lease.since).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
  });
  return `being edited on ${lease.host} since ${since}`;
}

/**
 * Takes the edit lease of name and renews it until release(). Someone else's lease
 * stops the edit unless force (the shell asks instead of needing --force); a lease
 * that cannot be taken at all (an older server) does not stop it: the version check
 * on upload is the safety net.
 */
async function holdLease(
  ctx: CliContext,
  client: LanfsClient,
  name: string,
  force: boolean,
): Promise<{ release: () => Promise<void> }> {
  const holder = randomBytes(8).toString('hex');
  const answer = await client.lease(name, 'take', holder, force);
  if (answer.other && !answer.lease) {
    const busy = `${name} is ${editedBy(answer.other)}`;
    if (!ctx.inShell || !(await ask(ctx, `${busy}. Edit it anyway? [y/N] `)))
      throw new LanfsError(
        'LANFS_ERR_EDIT_CONFLICT',
        ctx.inShell
          ? `${busy}; nothing was changed.`
          : `${busy}; run "lanfs edit --force ${name}" to edit it anyway.`,
      );
    await client.lease(name, 'take', holder, true);
  } else if (answer.other) note(ctx, `Warning: ${name} was ${editedBy(answer.other)}.`);
  const timer = setInterval(() => {
    client.lease(name, 'renew', holder).catch(() => undefined);
  }, LEASE_RENEW_MS);
  return {
    release: async () => {
      clearInterval(timer);
      await client.lease(name, 'release', holder).catch(() => undefined);
    },
  };
}

/** A yes/no question on the terminal (the shell). */
async function ask(ctx: CliContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.stdin, output: ctx.stderr, terminal: false });
  try {
    const reply = await rl.question(question);
    return /^y(es)?$/i.test(reply.trim());
  } finally {
    rl.close();
  }
}

async function editHeld(ctx: CliContext, client: LanfsClient, name: string): Promise<void> {
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
