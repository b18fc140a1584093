/**
 * The `lanfs` executable: parses the command line, runs the command, and turns
 * any error into one plain sentence on stderr and the exit code of SPEC §3.
 * The only place that ends the process.
 */
import { CommanderError, Option } from '@commander-js/extra-typings';
import { LanfsClient } from '../client/client.ts';
import { DEFAULT_GROUP } from '../discovery/multicast-beacon.ts';
import { LanfsError } from '../shared/errors.ts';
import { up, UP_BASE_PORT, UP_CHILD_ENV, UP_HTTP_BASE_PORT } from './commands/up.ts';
import type { CliContext } from './context.ts';
import { exitCodeFor, ExitCode } from './exit-codes.ts';
import { addConnectOptions, resolveClientOptions, type ConnectOptions } from './options.ts';
import { buildProgram } from './program.ts';
import { runShell } from './shell.ts';

function sayToStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * A server started by `lanfs up` stops when up is gone, even after a kill -9 of up:
 * its IPC channel to up closes, and it stops as on SIGTERM.
 */
function stopWithUp(): void {
  if (process.env[UP_CHILD_ENV] !== '1' || !process.send) return;
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel?.unref();
}

export async function main(argv: string[]): Promise<number> {
  stopWithUp();
  const clients: LanfsClient[] = [];
  const context = (options: ConnectOptions): CliContext => {
    let connecting: Promise<LanfsClient> | undefined;
    return {
      client: async () => {
        connecting ??= LanfsClient.connect(resolveClientOptions(options, sayToStderr)).then(
          (client) => {
            clients.push(client);
            return client;
          },
        );
        return await connecting;
      },
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      inShell: false,
      verbose: options.verbose === true,
    };
  };
  const program = buildProgram({
    context,
    extend: (program) => {
      const shell = program
        .command('shell')
        .description(
          'an interactive session: show, create, download, edit, delete, status, help, bye',
        );
      addConnectOptions(shell as never);
      shell.action(async (options) => {
        const o = options as ConnectOptions;
        await runShell({ client: resolveClientOptions(o, sayToStderr), verbose: o.verbose });
      });
      program
        .command('up')
        .description('run a whole cluster on this machine (loopback) and open a shell on it')
        .addOption(new Option('--servers <n>', 'how many servers').default('3'))
        .addOption(
          new Option(
            '--group <addr:port>',
            'multicast group they find each other on (loopback only)',
          ).default(DEFAULT_GROUP),
        )
        .addOption(new Option('--data <dir>', 'where their data goes').default('./lanfs-data'))
        .addOption(
          new Option(
            '--port <n>',
            'TCP port of server 1, the next ones follow (0: any free ports)',
          ).default(String(UP_BASE_PORT)),
        )
        .addOption(
          new Option(
            '--http-port <n>',
            'dashboard port of server 1, the next ones follow (0: any free ports)',
          ).default(String(UP_HTTP_BASE_PORT)),
        )
        .action(async (options) => await up(context({}), options));
    },
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else commander refuses is bad usage.
      return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    if (err instanceof LanfsError) {
      process.stderr.write(`lanfs: ${err.message}\n`);
      return exitCodeFor(err.code);
    }
    process.stderr.write(`lanfs: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return ExitCode.ERROR;
  } finally {
    for (const client of clients) client.close();
  }
}
