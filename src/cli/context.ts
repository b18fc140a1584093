/**
 * What a command runs with: a way to get a connected client, and the terminal.
 * One-shot commands and the shell build it differently (the shell keeps one
 * connection for its whole session) and then run the very same command code.
 */
import type { LanfsClient } from '../client/client.ts';

export interface CliContext {
  /** A connected client; connects on first use. */
  client: () => Promise<LanfsClient>;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** True inside `lanfs shell`: no stdin content, the editor instead. */
  inShell: boolean;
  verbose: boolean;
}

export function print(ctx: CliContext, line: string): void {
  ctx.stdout.write(`${line}\n`);
}

export function note(ctx: CliContext, line: string): void {
  ctx.stderr.write(`${line}\n`);
}
