/**
 * `lanfs shell`: an interactive session on one connection. Each line is run by
 * the same command table as the one-shot commands, in the shell's own words
 * (hints name shell commands, `help CMD` gives a command's shell usage); errors
 * are printed and the session goes on. Things that happen meanwhile (a server
 * gone or back) are printed above the prompt, which is drawn again. History is
 * kept in ~/.lanfs_history; Tab completes command names, file names, and local
 * paths after --from and -o.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import { CommanderError } from '@commander-js/extra-typings';
import { LanfsClient, type ClientOptions } from '../client/client.ts';
import { LanfsError } from '../shared/errors.ts';
import type { CliContext } from './context.ts';
import { buildProgram } from './program.ts';

const COMMANDS = ['show', 'create', 'download', 'edit', 'delete', 'status', 'help', 'clear', 'bye'];
/** Commands of the command table (the rest are the shell's own). */
const TABLE_COMMANDS = new Set(['show', 'create', 'download', 'edit', 'delete', 'status']);
/** Options whose value is a path on this machine. */
const LOCAL_PATH_OPTIONS = new Set(['--from', '-o', '--output']);
const HISTORY_LINES = 500;
/** How often the shell looks for a server again when none answers. */
const RETRY_INTERVAL_MS = 2000;
/** How long a fetched list of names is good for completion. */
const NAMES_FRESH_MS = 3000;
/** Local paths offered by Tab at most. */
const MAX_LOCAL_CANDIDATES = 200;

const HELP = `Commands:
  show [--json]                       list every file on every server
  create NAME [--from PATH]           create a file (from PATH, else in your editor)
  download NAME [-o PATH] [--force]   download a file (-o - prints it)
  edit NAME                           edit a file in $EDITOR; saved as its next version
  delete NAME                         delete a file everywhere
  status [--json]                     servers, up/down, file counts
  help [COMMAND]                      this list, or how to use one command
  clear                               clear the screen
  bye                                 leave the shell (also: exit, quit, Ctrl-D)`;

const OWN_USAGE: Record<string, string> = {
  help: 'help [COMMAND]\n  Lists the commands; with a command, how to use it.',
  clear: 'clear\n  Clears the screen.',
  bye: 'bye\n  Leaves the shell (also: exit, quit, Ctrl-D, Ctrl-C on an empty line).',
};

/** Commands people look for in a plain `lanfs shell` that live elsewhere, and where. */
const UP_ONLY =
  'is a command of the shell of "lanfs up", which runs its servers itself; here, "status" lists the servers.';
const ELSEWHERE: Record<string, string> = {
  watch:
    '"watch" runs outside the shell (it lasts until Ctrl-C): type "lanfs watch" in another terminal.',
  servers: `"servers" ${UP_ONLY}`,
  stop: `"stop" ${UP_ONLY}`,
  kill: `"kill" ${UP_ONLY}`,
  start: `"start" ${UP_ONLY}`,
};

/** A command the shell runs besides the command table (lanfs up: servers, stop, start...). */
export interface ShellCommand {
  /** e.g. "stop N" */
  usage: string;
  description: string;
  /** Runs it; a thrown LanfsError is printed like any command's. */
  run: (args: string[]) => Promise<void> | void;
}

/**
 * Puts a message from the CLI's one-shot language into the shell's: a hint to run
 * "lanfs show" becomes "show", since in the shell that is what the user types.
 */
export function inShellWords(message: string): string {
  return message.replace(/\blanfs (show|create|download|edit|delete|status)\b/g, '$1');
}

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

/** What Tab completes at the end of a line: a command, a lanfs file name, or a local path. */
export function completionKind(line: string): 'command' | 'file' | 'local' {
  const words = splitLine(line);
  const endsWithSpace = /\s$/.test(line);
  if (words.length === 0 || (words.length === 1 && !endsWithSpace)) return 'command';
  const previous = endsWithSpace ? words[words.length - 1] : words[words.length - 2];
  return previous !== undefined && LOCAL_PATH_OPTIONS.has(previous) ? 'local' : 'file';
}

/**
 * What Tab offers for a line: command names for the first word, local paths after
 * --from and -o, file names elsewhere. Returns [candidates, the word being completed].
 */
export function completeLine(
  line: string,
  names: string[],
  local: string[] = [],
  commands: string[] = COMMANDS,
): [string[], string] {
  const words = splitLine(line);
  const endsWithSpace = /\s$/.test(line);
  const partial = endsWithSpace ? '' : (words[words.length - 1] ?? '');
  const kind = completionKind(line);
  const pool = kind === 'command' ? commands : kind === 'local' ? local : names;
  return [pool.filter((n) => n.startsWith(partial)), partial];
}

/**
 * The local paths that could complete partial: the entries of its folder (relative
 * to cwd) starting with its last part, folders with a trailing slash; hidden ones
 * only when asked for with a dot.
 */
export async function localPaths(partial: string, cwd = process.cwd()): Promise<string[]> {
  const slash = partial.lastIndexOf('/');
  const folder = slash < 0 ? '' : partial.slice(0, slash + 1);
  const start = partial.slice(slash + 1);
  const where = folder === '' ? cwd : folder.startsWith('/') ? folder : join(cwd, folder);
  const entries = await readdir(where, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.name.startsWith(start) && (start.startsWith('.') || !e.name.startsWith('.')))
    .slice(0, MAX_LOCAL_CANDIDATES)
    .map((e) => `${folder}${e.name}${e.isDirectory() ? '/' : ''}`)
    .sort();
}

export interface ShellOptions {
  client: ClientOptions;
  historyFile?: string;
  /** Printed before the prompt (lanfs up says what the user is looking at). */
  banner?: string;
  verbose?: boolean;
  /** More commands, listed after the others in help (lanfs up: servers, stop, kill, start). */
  extraCommands?: Record<string, ShellCommand>;
  /** Aborting it leaves the shell as bye does (lanfs up on SIGTERM). */
  signal?: AbortSignal;
  /** Hands over the shell's hooks once its prompt exists (lanfs up: a server exited). */
  onReady?: (shell: ShellHooks) => void;
}

/** What the shell lends to the one that started it. */
export interface ShellHooks {
  /** Prints a line above the prompt. */
  say: (line: string) => void;
  /**
   * Asks the connected server now, so that if it is gone the shell moves to another
   * one (and says so) at once instead of at the next command; with none left it
   * says so and keeps trying.
   */
  checkServer: () => Promise<void>;
}

/**
 * The line the user types into: a message arriving while the prompt waits goes
 * above it, and the prompt is drawn again with whatever was typed so far. While a
 * command runs, messages simply join its output.
 */
class PromptLine {
  readonly #rl: Interface;
  readonly #out: NodeJS.WriteStream;
  #waiting = false;

  /** Whether the prompt waits for the user (no command runs). */
  get waiting(): boolean {
    return this.#waiting;
  }

  constructor(rl: Interface, out: NodeJS.WriteStream) {
    this.#rl = rl;
    this.#out = out;
  }

  prompt(): void {
    this.#waiting = true;
    this.#rl.prompt();
  }

  busy(): void {
    this.#waiting = false;
  }

  say(line: string): void {
    if (!this.#waiting) {
      this.#out.write(`${line}\n`);
      return;
    }
    if (this.#out.isTTY) {
      cursorTo(this.#out, 0);
      clearLine(this.#out, 0);
      this.#out.write(`${line}\n`);
    } else {
      this.#out.write(`\n${line}\n`);
    }
    this.#rl.prompt(true);
  }
}

export async function runShell(options: ShellOptions): Promise<void> {
  // Until the prompt exists, lines go out plainly; then above the prompt.
  let say = (line: string): void => void process.stdout.write(`${line}\n`);
  /** While the shell itself looks for a server again, the client's failover line is its news. */
  let lookingAgain = false;
  const client = await LanfsClient.connect({
    ...options.client,
    onEvent: options.client.onEvent && ((line) => say(line)),
    onFailover: (line) => {
      if (!lookingAgain) say(line);
    },
  });
  const ctx: CliContext = {
    client: () => Promise.resolve(client),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    inShell: true,
    verbose: options.verbose ?? false,
  };
  const extra = options.extraCommands ?? {};
  const commandNames = [...COMMANDS.slice(0, -1), ...Object.keys(extra), 'bye'];
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
      const kind = completionKind(line);
      if (kind === 'command') {
        callback(null, completeLine(line, [], [], commandNames));
        return;
      }
      if (kind === 'local') {
        const words = splitLine(line);
        const partial = /\s$/.test(line) ? '' : (words[words.length - 1] ?? '');
        void localPaths(partial).then((local) => callback(null, completeLine(line, [], local)));
        return;
      }
      refreshNames()
        .catch(() => undefined)
        .finally(() => callback(null, completeLine(line, names)));
    },
  });
  const promptLine = new PromptLine(rl, process.stdout);
  say = (line) => promptLine.say(line);

  const stopped = new Promise<void>((resolve) => rl.once('close', resolve));
  const leave = (): void => {
    process.stdout.write('\n');
    rl.close();
  };
  if (options.signal?.aborted) leave();
  options.signal?.addEventListener('abort', leave, { once: true });
  rl.on('SIGINT', () => {
    // Ctrl-C clears a line being typed; on an empty line it leaves, like bye.
    if (rl.line.length === 0) {
      leave();
      return;
    }
    rl.write(null, { ctrl: true, name: 'u' });
    process.stdout.write('\n');
    promptLine.prompt();
  });
  // With no server answering, keep trying in the background and say once when one is back.
  let watching: NodeJS.Timeout | undefined;
  let closed = false;
  const stopWatching = (): void => {
    clearTimeout(watching);
    watching = undefined;
  };
  const lookAgain = (): void => {
    watching = setTimeout(() => {
      lookingAgain = true;
      client
        .status()
        .then(
          () => {
            if (watching === undefined || closed) return;
            watching = undefined;
            say(`Server ${client.serverId} is back; connected to it at ${client.address}.`);
          },
          () => {
            if (watching !== undefined && !closed) lookAgain();
          },
        )
        .finally(() => {
          lookingAgain = false;
        });
    }, RETRY_INTERVAL_MS);
  };
  const watchForServers = (): void => {
    if (watching) return;
    const line = `No server answers; the shell keeps trying every ${RETRY_INTERVAL_MS / 1000} s and says when one is back.`;
    if (promptLine.waiting) say(line);
    else process.stderr.write(`${line}\n`);
    lookAgain();
  };
  rl.once('close', () => {
    closed = true;
    stopWatching();
  });
  options.onReady?.({
    say: (line) => say(line),
    checkServer: async () => {
      if (closed || watching !== undefined) return;
      // A failover prints its own line; with no server left, the retry line is the news.
      await client.status().catch((err: unknown) => {
        if (err instanceof LanfsError && err.code === 'LANFS_ERR_NO_SERVER') watchForServers();
      });
    },
  });
  promptLine.prompt();
  for await (const line of rl) {
    promptLine.busy();
    const words = splitLine(line);
    const command = words[0];
    if (command === undefined) {
      promptLine.prompt();
      continue;
    }
    await appendFile(historyFile, `${line}\n`).catch(() => undefined);
    if (command === 'bye' || command === 'exit' || command === 'quit') break;
    rl.pause();
    const failure = await runShellLine(ctx, words, extra);
    if (failure === 'LANFS_ERR_NO_SERVER') watchForServers();
    else if (failure === undefined && TABLE_COMMANDS.has(command)) stopWatching(); // it answered
    namesAt = 0;
    rl.resume();
    promptLine.prompt();
  }
  options.signal?.removeEventListener('abort', leave);
  rl.close();
  await stopped;
  client.close();
  process.stdout.write('Bye.\n');
}

/** Runs one line of the shell; returns the error code if it failed with a LanfsError. */
async function runShellLine(
  ctx: CliContext,
  words: string[],
  extra: Record<string, ShellCommand>,
): Promise<string | undefined> {
  const [command, ...args] = words as [string, ...string[]];
  // "--help" alone is what people type to any command line: the shell's own list.
  if (command === 'help' || command === '?' || command === '--help' || command === '-h') {
    process.stdout.write(`${helpText(args[0], extra)}\n`);
    return undefined;
  }
  if (command === 'clear') {
    // Clear the screen and scrollback, cursor home (what clear(1) writes).
    if (process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J\x1b[3J');
    return undefined;
  }
  const own = extra[command];
  if (own) {
    try {
      await own.run(args);
    } catch (err) {
      return reportError(err);
    }
    return undefined;
  }
  const elsewhere = ELSEWHERE[command];
  if (elsewhere) {
    process.stderr.write(`${elsewhere}\n`);
    return undefined;
  }
  return await runLine(ctx, words);
}

/** The help list, or one command's usage in the shell's words. */
function helpText(command: string | undefined, extra: Record<string, ShellCommand>): string {
  const extraLines = Object.values(extra).map((c) => `  ${c.usage.padEnd(36)}${c.description}`);
  if (command === undefined) return [HELP, ...extraLines].join('\n');
  if (OWN_USAGE[command]) return `Usage: ${OWN_USAGE[command]}`;
  const own = extra[command];
  if (own) return `Usage: ${own.usage}\n  ${own.description}`;
  if (ELSEWHERE[command]) return ELSEWHERE[command];
  const program = buildProgram({ context: () => undefined as never, inShell: true });
  const found = program.commands.find((c) => c.name() === command);
  if (!found) return `No command "${command}" in the shell; type "help" for the list.`;
  return found.helpInformation().trimEnd();
}

function reportError(err: unknown): string | undefined {
  if (err instanceof LanfsError) {
    process.stderr.write(`${inShellWords(err.message)}\n`);
    return err.code;
  }
  process.stderr.write(`Unexpected error: ${(err as Error).message}\n`);
  return undefined;
}

/** Runs one line of the command table; returns the error code if it failed with a LanfsError. */
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
    return reportError(err);
  }
  return undefined;
}
