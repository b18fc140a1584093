/**
 * Runs the user's editor the way git does: $VISUAL, else $EDITOR, else the first
 * of sensible-editor, editor, nano, vi found on the PATH; started through
 * /bin/sh so `EDITOR="code --wait"` works. A non-zero exit means "discard".
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LanfsError } from '../shared/errors.ts';

const FALLBACK_EDITORS = ['sensible-editor', 'editor', 'nano', 'vi'];

export function chooseEditor(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.VISUAL?.trim() || env.EDITOR?.trim();
  if (configured) return configured;
  for (const candidate of FALLBACK_EDITORS) {
    for (const dir of (env.PATH ?? '').split(delimiter)) {
      try {
        accessSync(join(dir, candidate), constants.X_OK);
        return candidate;
      } catch {
        // not in this folder
      }
    }
  }
  return 'vi';
}

/** Opens path in the editor and waits; resolves when it exits 0, rejects otherwise. */
export async function runEditor(path: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const editor = chooseEditor(env);
  // An editor needs a terminal: when ours is a pipe, give it /dev/tty if there is one.
  let ttyFd: number | undefined;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    try {
      ttyFd = openSync('/dev/tty', 'r+');
    } catch {
      ttyFd = undefined;
    }
  }
  const stdio = ttyFd === undefined ? 'inherit' : ([ttyFd, ttyFd, 'inherit'] as const);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', `${editor} "$@"`, 'lanfs-editor', path], {
        stdio: stdio as never,
        env,
      });
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) {
      throw new LanfsError(
        'LANFS_ERR_USAGE',
        `The editor (${editor}) exited with status ${code ?? 'signal'}; nothing was uploaded.`,
      );
    }
  } finally {
    if (ttyFd !== undefined) closeSync(ttyFd);
  }
}
