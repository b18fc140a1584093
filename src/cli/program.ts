/**
 * The command table: every `lanfs` command, its options and what it runs. The
 * shell builds the same table for each line it reads, so a command behaves alike
 * in both places.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { DOWN_AFTER_MS } from '../cluster/peer-mesh.ts';
import { DEFAULT_HEAL_AFTER_MS } from '../cluster/replicator.ts';
import { DEFAULT_GROUP } from '../discovery/multicast-beacon.ts';
import { DEFAULT_SESSION_LIMITS } from '../server/client-session.ts';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, DEFAULT_REPLICAS } from '../server/server.ts';
import type { CliContext } from './context.ts';
import { create } from './commands/create.ts';
import { deleteFile } from './commands/delete.ts';
import { download } from './commands/download.ts';
import { edit } from './commands/edit.ts';
import { server } from './commands/server.ts';
import { show } from './commands/show.ts';
import { status } from './commands/status.ts';
import { watch } from './commands/watch.ts';
import { addConnectOptions, addKeyOptions, type ConnectOptions } from './options.ts';

/** Builds the context for a command from its options (one-shot or shell). */
export type ContextFactory = (options: ConnectOptions) => CliContext;

export interface ProgramHooks {
  context: ContextFactory;
  /** Extra top-level commands (shell, up) that need the whole CLI. */
  extend?: (program: Command) => void;
  /** In the shell: no connection options, no server commands. */
  inShell?: boolean;
}

export function buildProgram(hooks: ProgramHooks): Command {
  const program = new Command('lanfs')
    .description('lanfs: one file system over the servers of your LAN.')
    .showHelpAfterError('(run with --help for usage)')
    .allowExcessArguments(false)
    // Throw instead of exiting, in every subcommand too: main() picks the exit code.
    .exitOverride();

  const fileCommand = (name: string, description: string): Command => {
    const command = program.command(name).description(description);
    if (!hooks.inShell) addConnectOptions(command as never);
    return command;
  };

  fileCommand('show', 'list every file on every server')
    .option('--json', 'print one JSON array')
    .action(async (options) => await show(hooks.context(options as ConnectOptions), options));

  fileCommand('create', 'create a file (content from --from PATH, else stdin, else $EDITOR)')
    .argument('<name>', 'the new file, e.g. notes/todo.txt')
    .option('--from <path>', 'read the content from this local file')
    .action(
      async (name: string, options: { from?: string }) =>
        await create(hooks.context(options as ConnectOptions), name, options),
    );

  fileCommand('download', 'download a file, checked against its sha256')
    .argument('<name>', 'the file to download')
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
    .action(async (name: string, options: object) => await edit(hooks.context(options), name));

  fileCommand('delete', 'delete a file from every server')
    .argument('<name>', 'the file to delete')
    .action(
      async (name: string, options: object) => await deleteFile(hooks.context(options), name),
    );

  fileCommand('status', 'show every server: address, up/down, file count')
    .option('--json', 'print one JSON object')
    .action(async (options) => await status(hooks.context(options as ConnectOptions), options));

  if (!hooks.inShell) {
    // Not in the shell: it runs until Ctrl-C, which the shell keeps for itself.
    fileCommand('watch', 'print every change in the cluster as it happens, until Ctrl-C')
      .option('--json', 'one JSON object per line')
      .action(async (options) => await watch(hooks.context(options as ConnectOptions), options));

    const serverCommand = program
      .command('server')
      .description('run a server exporting a directory')
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
      );
    addKeyOptions(serverCommand as never);
    serverCommand.action(async (options) => await server(hooks.context({}), options as never));
  }
  hooks.extend?.(program);
  return program;
}
