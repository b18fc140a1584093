/**
 * The command table: every `lanfs` command, its options and what it runs. The
 * shell builds the same table for each line it reads, so a command behaves alike
 * in both places.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import {
  DEFAULT_HEAL_AFTER_MS,
  DEFAULT_SCRUB_RATE_MBPS,
  DOWN_AFTER_MS,
} from '../cluster/defaults.ts';
import { DEFAULT_GROUP } from '../discovery/multicast-beacon.ts';
import {
  DEFAULT_KEEP_VERSIONS,
  DEFAULT_TRASH_DAYS,
  DEFAULT_VERSIONS_BUDGET,
} from '../storage/defaults.ts';
import {
  DEFAULT_DELETE_BRAKE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_REPLICAS,
  DEFAULT_SESSION_LIMITS,
} from '../server/defaults.ts';
import type { CliContext } from './context.ts';
import { create } from './commands/create.ts';
import { deleteFile } from './commands/delete.ts';
import { download } from './commands/download.ts';
import { fault } from './commands/fault.ts';
import { plan } from './commands/plan.ts';
import { why } from './commands/why.ts';
import { doctor, DEFAULT_LISTEN_SECONDS } from './commands/doctor.ts';
import { edit } from './commands/edit.ts';
import { history, restore } from './commands/history.ts';
import { trash, undelete } from './commands/trash.ts';
import { scrub } from './commands/scrub.ts';
import { show } from './commands/show.ts';
import { status } from './commands/status.ts';
import { watch } from './commands/watch.ts';
import {
  addConnectOptions,
  addKeyOptions,
  keySourceOf,
  type ConnectOptions,
  type KeyOptions,
} from './options.ts';
import { UsageError } from '../shared/errors.ts';

/** Builds the context for a command from its options (one-shot or shell). */
export type ContextFactory = (options: ConnectOptions) => CliContext;

export interface ProgramHooks {
  context: ContextFactory;
  /** Extra top-level commands (shell, up) that need the whole CLI. */
  extend?: (program: Command) => void;
  /** In the shell: no connection options, no server commands. */
  inShell?: boolean;
}

/** The version in package.json (one level above src/ and dist/ alike). */
export function lanfsVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(hooks: ProgramHooks): Command {
  const program = new Command('lanfs')
    .description('lanfs: one file system over the servers of your LAN.')
    .allowExcessArguments(false)
    .showHelpAfterError(
      hooks.inShell ? '(type "help" for the commands)' : '(run "lanfs --help" for usage)',
    )
    // Throw instead of exiting, in every subcommand too: main() picks the exit code.
    .exitOverride();
  if (hooks.inShell) {
    // The shell's words: "create NAME", not "lanfs create NAME" (settings set here are
    // copied to every command made below).
    program.configureHelp({
      commandUsage: (command) =>
        command.parent ? `${command.name()} ${command.usage()}` : command.usage(),
    });
  } else {
    program.version(lanfsVersion(), '-V, --version', 'print the version of lanfs');
    // The client options may come before the command too (lanfs -v --server X show); they
    // are handed to the command in the hook below, its own options after it win.
    program.enablePositionalOptions();
    addConnectOptions(program as never);
    program.hook('preAction', (root, action) => {
      handOptionsDown(root, action as unknown as Command);
    });
  }

  const fileCommand = (name: string, description: string): Command => {
    const command = program.command(name).description(description);
    command.showHelpAfterError(
      hooks.inShell
        ? `(type "help ${name}" for its usage)`
        : `(run "lanfs ${name} --help" for usage)`,
    );
    if (!hooks.inShell) addConnectOptions(command as never);
    return command;
  };

  fileCommand('show', 'list every file on every server, in name order')
    .option('--json', 'print one JSON array')
    .option('--names', 'only the names, one a line (with --json: an array of names)')
    .option('--limit <n>', 'at most this many files')
    .option('--after <name>', 'only the files whose names sort after this one (the next page)')
    .option('--prefix <text>', 'only the files whose names start with this, e.g. photos/')
    .action(async (options) => await show(hooks.context(options as ConnectOptions), options));

  fileCommand(
    'create',
    hooks.inShell
      ? 'create a file (content from --from PATH, else what you write in your editor)'
      : 'create a file (content from --from PATH, else stdin, else $EDITOR)',
  )
    .argument('<name>', 'the new file, e.g. notes/todo.txt')
    .option('--from <path>', 'read the content from this local file')
    .action(
      async (name: string, options: { from?: string }) =>
        await create(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('download', 'download a file (or a kept version: NAME@3), checked against its sha256')
    .argument('<name>', 'the file to download, or NAME@N for version N')
    .option(
      '-o, --output <path>',
      'where to write it ("-" for stdout); default: its base name here',
    )
    .option('--force', 'overwrite an existing local file')
    .action(
      async (name: string, options: { output?: string; force?: boolean }) =>
        await download(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('edit', 'edit a file in $VISUAL/$EDITOR and upload the result as its next version')
    .argument('<name>', 'the file to edit')
    .option('--force', 'edit even though someone else is editing it')
    .action(
      async (name: string, options: { force?: boolean }) =>
        await edit(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('delete', 'delete a file from every server (it goes to the trash)')
    .argument('<name>', 'the file to delete')
    .option('--purge', 'skip the trash (not during a burst of deletes: see --delete-brake)')
    .action(
      async (name: string, options: { purge?: boolean }) =>
        await deleteFile(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('history', 'list the versions kept of a file')
    .argument('<name>', 'the file')
    .option('--json', 'print one JSON array')
    .action(
      async (name: string, options: { json?: boolean }) =>
        await history(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('restore', 'upload a kept version (NAME@3) as the next version')
    .argument('<name@version>', 'the file and the version to bring back, e.g. notes.txt@3')
    .action(
      async (target: string, options: object) => await restore(hooks.context(options), target),
    );

  fileCommand('trash', 'list the deleted files kept in the trash')
    .option('--json', 'print one JSON array')
    .action(async (options) => await trash(hooks.context(options as ConnectOptions), options));

  fileCommand('undelete', 'bring a deleted file back from the trash')
    .argument('[name]', 'the deleted file')
    .option('--as <new>', 'bring it back under another name')
    .option('--since <time>', 'bring back every file deleted since then (a time, or 10m, 2h)')
    .option('--from <host>', 'with --since: only the deletes from this client host')
    .action(
      async (name: string | undefined, options: { as?: string; since?: string; from?: string }) =>
        await undelete(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('status', 'show every server: address, up/down, file count')
    .option('--json', 'print one JSON object')
    .action(async (options) => await status(hooks.context(options as ConnectOptions), options));

  fileCommand('scrub', "what every server's scrub (re-hashing its copies) did and found")
    .option('--now', 'start a pass on every server now and wait for it to finish')
    .option('--json', 'print one JSON object')
    .action(async (options) => await scrub(hooks.context(options as ConnectOptions), options));

  fileCommand('why', 'where a file is and why: placement, holders, acting primary, who is next')
    .argument('<name>', 'the file')
    .option('--json', 'print one JSON object')
    .action(
      async (name: string, options: { json?: boolean }) =>
        await why(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand(
    'fault',
    'a fault on servers started with --allow-faults: kill, stop, cont, slow-disk MS, cut A B, heal',
  )
    .argument('<fault>', 'kill | stop | cont | slow-disk | cut | heal')
    .argument('[args...]', 'slow-disk: the delay in ms; cut: the two servers')
    .option(
      '--on <id>',
      'the server for kill, stop, cont, slow-disk (default: the one connected to)',
    )
    .option('--for <ms>', 'stop: resume by itself after this long')
    .action(
      async (action: string, args: string[], options: { on?: string; for?: string }) =>
        await fault(hooks.context(options as ConnectOptions), action, args, options),
    );

  fileCommand('plan', 'what losing a server for good would do: files to heal, where, bytes, time')
    .requiredOption('--without <id>', 'the server to plan without')
    .option('--json', 'print one JSON object')
    .action(
      async (options: { without: string; json?: boolean }) =>
        await plan(hooks.context(options as ConnectOptions), options),
    );

  if (!hooks.inShell) {
    // Not in the shell: a shell is connected already, and doctor is for when nothing connects.
    fileCommand(
      'doctor',
      'find out why this machine cannot find or reach the cluster, step by step',
    )
      .option(
        '--listen <seconds>',
        'how long to listen to the multicast group',
        String(DEFAULT_LISTEN_SECONDS),
      )
      .option('--json', 'print one JSON object')
      .action(async (options) => await doctor(hooks.context({}), options));
  }

  if (!hooks.inShell) {
    // Not in the shell: it runs until Ctrl-C, which the shell keeps for itself.
    fileCommand('watch', 'print every change in the cluster as it happens, until Ctrl-C')
      .option('--json', 'one JSON object per line')
      .action(async (options) => await watch(hooks.context(options as ConnectOptions), options));

    const serverCommand = program
      .command('server')
      .description('run a server exporting a directory')
      .showHelpAfterError('(run "lanfs server --help" for usage)')
      .requiredOption('--data <dir>', 'the directory to export')
      .option('--id <n>', "this server's id (a positive integer; required the first time)")
      .addOption(new Option('--port <n>', 'TCP port').default(String(DEFAULT_PORT)))
      .addOption(new Option('--host <addr>', 'address to listen on').default('0.0.0.0'))
      .option('--http-port <n>', 'HTTP port for the dashboard and API')
      .addOption(
        new Option('--group <addr:port>', 'multicast group for discovery')
          .env('LANFS_GROUP')
          .default(DEFAULT_GROUP),
      )
      .addOption(
        new Option('--interface <addr>', 'interface for multicast (and the address announced)').env(
          'LANFS_INTERFACE',
        ),
      )
      .option('--no-multicast', 'no multicast discovery (use --peers)')
      .option('--peers <host:port,...>', 'servers to connect to directly')
      .option('--max-file-size <bytes>', 'largest file accepted (default: no limit but the disk)')
      .option(
        '--capacity <size>',
        'bytes this server offers (500G, 2T, 1GB); when every server gives one, copies go where the smallest share is used',
      )
      .addOption(
        new Option('--max-connections <n>', 'connections at once at most').default(
          String(DEFAULT_MAX_CONNECTIONS),
        ),
      )
      .addOption(
        new Option(
          '--stall-timeout <ms>',
          'a connection sending part of a message, or an upload with no bytes, is cut off after this',
        ).default(String(DEFAULT_SESSION_LIMITS.stallMs)),
      )
      .addOption(
        new Option(
          '--idle-timeout <ms>',
          'a client connection with nothing to do is closed after this',
        ).default(String(DEFAULT_SESSION_LIMITS.idleMs)),
      )
      .addOption(
        new Option(
          '--heal-after <ms>',
          'how long a server may be down before its copies are made again elsewhere',
        ).default(String(DEFAULT_HEAL_AFTER_MS)),
      )
      .addOption(
        new Option('--peer-timeout <ms>', 'silence after which a server is marked down').default(
          String(DOWN_AFTER_MS),
        ),
      )
      .addOption(
        new Option('--replicas <n>', 'copies of each file, the primary included').default(
          String(DEFAULT_REPLICAS),
        ),
      )
      .addOption(
        new Option(
          '--multipart-expiry <duration>',
          'S3 multipart uploads left alone this long are removed (like 90s, 30m, 24h)',
        ).default('24h'),
      )
      .addOption(
        new Option(
          '--scrub-rate <MB/s>',
          'how fast the background scrub re-reads the files held here (0: off)',
        ).default(String(DEFAULT_SCRUB_RATE_MBPS)),
      )
      .addOption(
        new Option('--keep-versions <n>', 'earlier versions kept of each file (0: none)').default(
          String(DEFAULT_KEEP_VERSIONS),
        ),
      )
      .addOption(
        new Option(
          '--versions-budget <size>',
          'room for kept versions and the trash together: a size (2GiB) or a share of the free space (10%)',
        ).default(DEFAULT_VERSIONS_BUDGET),
      )
      .addOption(
        new Option('--trash-days <n>', 'days a deleted file stays in the trash').default(
          String(DEFAULT_TRASH_DAYS),
        ),
      )
      .addOption(
        new Option(
          '--delete-brake <n>',
          'deletes from one client within a minute past which none purges (a burst)',
        ).default(String(DEFAULT_DELETE_BRAKE)),
      )
      .option(
        '--allow-faults',
        'take lanfs fault requests (kill, stop, slow-disk, cut, heal) from key holders: demos and tests only',
      )
      .addOption(
        new Option(
          '--log-format <format>',
          'json or pretty (default: pretty on a terminal, else json)',
        ).env('LANFS_LOG_FORMAT'),
      );
    addKeyOptions(serverCommand as never);
    // Loaded only when asked for: the whole server is most of what a start-up would load.
    serverCommand.action(async (options) => {
      const { server } = await import('./commands/server.ts');
      await server(hooks.context({}), options as never);
    });
  }
  hooks.extend?.(program);
  return program;
}

/**
 * Options given before the command (`lanfs --key K show`) go to the command, unless
 * the command was given its own after it; then records where the key came from, for
 * the sentence a wrong key gets.
 */
function handOptionsDown(root: Command, action: Command): void {
  for (const option of root.options) {
    const key = option.attributeName();
    if (root.getOptionValueSource(key) !== 'cli') continue;
    if (!action.options.some((o) => o.attributeName() === key)) {
      throw new UsageError(
        `${option.long ?? option.flags} does not apply to "lanfs ${action.name()}"; see "lanfs ${action.name()} --help".`,
      );
    }
    if (action.getOptionValueSource(key) === 'cli') continue;
    action.setOptionValueWithSource(key, root.getOptionValue(key), 'cli');
  }
  if (action.options.some((o) => o.attributeName() === 'key')) {
    // The command line wins over the environment: --key-file given, LANFS_KEY is not used.
    if (
      action.getOptionValueSource('key') === 'env' &&
      (action.opts() as KeyOptions).keyFile !== undefined
    )
      action.setOptionValueWithSource('key', undefined, 'default');
    action.setOptionValue(
      'keySource',
      keySourceOf(action.opts(), action.getOptionValueSource('key') === 'env'),
    );
  }
}
