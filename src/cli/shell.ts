/**
 * `lanfs shell`: an interactive session on one connection. Each line is run by
 * the same command table as the one-shot commands; errors are printed and the
 * session goes on. History is kept in ~/.lanfs_history; Tab completes command
 * names and file names.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { appendFile, readFile } from 'node:fs/promises';
import { createInterface, type Interface } from 'node:readline';
import { CommanderError } from '@commander-js/extra-typings';
import { LanfsClient, type ClientOptions } from '../client/client.ts';
import { LanfsError } from '../shared/errors.ts';
import type { CliContext } from './context.ts';
import { buildProgram } from './program.ts';

const COMMANDS = ['show', 'create', 'download', 'edit', 'delete', 'status', 'help', 'bye'];
const HISTORY_LINES = 500;
/** How often the shell looks for a server again when none answers. */
const RETRY_INTERVAL_MS = 2000;
/** How long a fetched list of names is good for completion. */
const NAMES_FRESH_MS = 3000;

const HELP = `Commands:
  show [--json]                       list every file on every server
  create NAME [--from PATH]           create a file (from PATH, else in your editor)
  download NAME [-o PATH] [--force]   download a file (-o - prints it)
  edit NAME                           edit a file in $EDITOR; saved as its next version
  delete NAME                         delete a file everywhere
  status [--json]                     servers, up/down, file counts
  help                                this list
  bye                                 leave the shell (also: exit, quit, Ctrl-D)`;

/** Splits a line like a shell would: spaces separate, quotes group, backslash escapes. */
export function splitLine(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) current += line[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/**
 * What Tab offers for a line: command names for the first word, file names after
 * it. Returns [candidates, the word being completed].
 */
export function completeLine(line: string, names: string[]): [string[], string] {
  const words = splitLine(line);
  const endsWithSpace = /\s$/.test(line);
  if (words.length === 0 || (words.length === 1 && !endsWithSpace)) {
    const partial = words[0] ?? '';
    return [COMMANDS.filter((c) => c.startsWith(partial)), partial];
  }
  const partial = endsWithSpace ? '' : (words[words.length - 1] ?? '');
  return [names.filter((n) => n.startsWith(partial)), partial];
}

export interface ShellOptions {
  client: ClientOptions;
  historyFile?: string;
  /** Printed before the prompt (lanfs up says what the user is looking at). */
  banner?: string;
  verbose?: boolean;
}

export async function runShell(options: ShellOptions): Promise<void> {
  const client = await LanfsClient.connect(options.client);
  const ctx: CliContext = {
    client: () => Promise.resolve(client),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    inShell: true,
    verbose: options.verbose ?? false,
  };
  let names: string[] = [];
  let namesAt = 0;
  const refreshNames = async (): Promise<void> => {
    if (Date.now() - namesAt < NAMES_FRESH_MS) return;
    names = (await client.list()).map((r) => r.name);
    namesAt = Date.now();
  };

  if (options.banner) process.stdout.write(`${options.banner}\n`);
  const files = (await client.list()).length;
  process.stdout.write(
    `Connected to server ${client.serverId} at ${client.address}: ${files} file${files === 1 ? '' : 's'}. Type "help" for commands, "bye" to leave.\n`,
  );

  const historyFile =
    options.historyFile ?? process.env.LANFS_HISTORY_FILE ?? join(homedir(), '.lanfs_history');
  const history = (await readFile(historyFile, 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .slice(-HISTORY_LINES)
    .reverse();

  const rl: Interface = createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: 'lanfs> ',
    history,
    historySize: HISTORY_LINES,
    completer: (line: string, callback: (err: null, result: [string[], string]) => void) => {
      const completingCommand = splitLine(line).length + (/\s$/.test(line) ? 1 : 0) <= 1;
      if (completingCommand) {
        callback(null, completeLine(line, []));
        return;
      }
      refreshNames()
        .catch(() => undefined)
        .finally(() => callback(null, completeLine(line, names)));
    },
  });

  const stopped = new Promise<void>((resolve) => rl.once('close', resolve));
  rl.on('SIGINT', () => {
    // Ctrl-C clears a line being typed; on an empty line it leaves, like bye.
    if (rl.line.length === 0) {
      process.stdout.write('\n');
      rl.close();
      return;
    }
    rl.write(null, { ctrl: true, name: 'u' });
    process.stdout.write('\n');
    rl.prompt();
  });
  // With no server answering, keep trying in the background and say when one is back.
  let watching: NodeJS.Timeout | undefined;
  const watchForServers = (): void => {
    if (watching) return;
    process.stderr.write(
      `No server answers; the shell keeps trying every ${RETRY_INTERVAL_MS / 1000} s.\n`,
    );
    watching = setInterval(() => {
      client
        .status()
        .then(() => {
          clearInterval(watching);
          watching = undefined;
          process.stdout.write(
            `\nA server answers again: connected to server ${client.serverId} at ${client.address}.\n`,
          );
          rl.prompt(true);
        })
        .catch(() => undefined);
    }, RETRY_INTERVAL_MS);
  };
  rl.once('close', () => clearInterval(watching));
  rl.prompt();
  for await (const line of rl) {
    const words = splitLine(line);
    const command = words[0];
    if (command === undefined) {
      rl.prompt();
      continue;
    }
    await appendFile(historyFile, `${line}\n`).catch(() => undefined);
    if (command === 'bye' || command === 'exit' || command === 'quit') break;
    if (command === 'help' || command === '?') {
      process.stdout.write(`${HELP}\n`);
      rl.prompt();
      continue;
    }
    rl.pause();
    if ((await runLine(ctx, words)) === 'LANFS_ERR_NO_SERVER') watchForServers();
    namesAt = 0;
    rl.resume();
    rl.prompt();
  }
  rl.close();
  await stopped;
  client.close();
  process.stdout.write('Bye.\n');
}

/** Runs one line; returns the error code if the command failed with a LanfsError. */
async function runLine(ctx: CliContext, words: string[]): Promise<string | undefined> {
  const program = buildProgram({ context: () => ctx, inShell: true });
  program.configureOutput({
    writeOut: (s) => process.stdout.write(s),
    writeErr: (s) => process.stderr.write(s),
  });
  try {
    await program.parseAsync(words, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return undefined; // commander already said what was wrong
    if (err instanceof LanfsError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`Unexpected error: ${(err as Error).message}\n`);
  }
  return undefined;
}
