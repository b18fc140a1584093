/**
 * The options every client command shares (SPEC §3): where the servers are,
 * which cluster, and the key, each also from the environment. Resolves them
 * into what LanfsClient.connect needs.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from '@commander-js/extra-typings';
import type { ClientOptions } from '../client/client.ts';
import { parseAddress } from '../client/client.ts';
import { DEFAULT_GROUP, parseGroup } from '../discovery/multicast-beacon.ts';
import { DEFAULT_CLUSTER } from '../server/defaults.ts';
import { UsageError } from '../shared/errors.ts';
import type { TlsOptions } from '../transport/dial.ts';
import type { Credentials } from '../transport/handshake.ts';

export interface KeyOptions {
  key?: string;
  keyFile?: string;
  insecure?: boolean;
  cluster?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** Where the key came from ("--key", "LANFS_KEY", "--key-file PATH"), for error messages. */
  keySource?: string;
}

export interface ConnectOptions extends KeyOptions {
  server?: string;
  group?: string;
  interface?: string;
  verbose?: boolean;
}

export function addKeyOptions<T extends Command<never[], Record<string, unknown>>>(command: T): T {
  command
    .addOption(new Option('--key <secret>', 'the cluster key').env('LANFS_KEY'))
    .addOption(new Option('--key-file <path>', 'read the cluster key from a file'))
    .addOption(new Option('--insecure', 'run without a cluster key (anyone on the LAN gets in)'))
    .addOption(
      new Option('--cluster <name>', 'the cluster name')
        .env('LANFS_CLUSTER')
        .default(DEFAULT_CLUSTER),
    )
    .addOption(
      new Option('--tls-cert <file>', "TLS: this end's certificate (PEM)").env('LANFS_TLS_CERT'),
    )
    .addOption(
      new Option('--tls-key <file>', 'TLS: the key of that certificate (PEM)').env('LANFS_TLS_KEY'),
    )
    .addOption(
      new Option(
        '--tls-ca <file>',
        "TLS: the CA that signed the other end's certificate (PEM)",
      ).env('LANFS_TLS_CA'),
    );
  return command;
}

export function addConnectOptions<T extends Command<never[], Record<string, unknown>>>(
  command: T,
): T {
  addKeyOptions(command)
    .addOption(
      new Option('--server <host:port,...>', 'servers to try, in order').env('LANFS_SERVER'),
    )
    .addOption(
      new Option('--group <addr:port>', 'multicast group to find servers on').env('LANFS_GROUP'),
    )
    .addOption(
      new Option('--interface <addr>', 'network interface for multicast').env('LANFS_INTERFACE'),
    )
    .addOption(new Option('-v, --verbose', 'say which server answers and what happens'));
  return command;
}

/** Says where the key of these options came from, as the user gave it. */
export function keySourceOf(options: KeyOptions, keyFromEnv: boolean): string | undefined {
  if (options.keyFile !== undefined) return `--key-file ${options.keyFile}`;
  if (options.key === undefined) return undefined;
  return keyFromEnv ? 'LANFS_KEY' : '--key';
}

export function resolveCredentials(options: KeyOptions): Credentials {
  if (options.key !== undefined && options.keyFile !== undefined) {
    throw new UsageError('Give the key with --key or with --key-file, not both.');
  }
  let key = options.key;
  if (options.keyFile !== undefined) {
    try {
      key = readFileSync(options.keyFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(
        `Cannot read the key file ${options.keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      );
    }
  }
  if (key !== undefined && key.length === 0)
    throw new UsageError('The cluster key is empty; give a non-empty --key or --key-file.');
  return {
    key: key,
    insecure: options.insecure === true,
    cluster: options.cluster ?? DEFAULT_CLUSTER,
    tls: resolveTls(options),
    keySource: options.keySource ?? keySourceOf(options, false),
  };
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(
      `Cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
}

/** TLS material from --tls-cert/--tls-key/--tls-ca; undefined when none is given. */
export function resolveTls(options: KeyOptions): TlsOptions | undefined {
  if (options.tlsCert === undefined && options.tlsKey === undefined && options.tlsCa === undefined)
    return undefined;
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError('Give --tls-cert and --tls-key together (a certificate and its key).');
  }
  return {
    cert: options.tlsCert === undefined ? undefined : readPem(options.tlsCert, 'TLS certificate'),
    key: options.tlsKey === undefined ? undefined : readPem(options.tlsKey, 'TLS key'),
    ca: options.tlsCa === undefined ? undefined : readPem(options.tlsCa, 'TLS CA certificate'),
  };
}

/** Splits "a:1, b:2" into addresses; undefined for undefined. */
export function addressList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const address of list) parseAddress(address); // a clear error for a bad one, now
  return list;
}

export function resolveClientOptions(
  options: ConnectOptions,
  onEvent?: (line: string) => void,
): ClientOptions {
  const servers = addressList(options.server);
  return {
    servers: servers && servers.length > 0 ? servers : undefined,
    discovery: {
      group: parseGroup(options.group ?? DEFAULT_GROUP),
      interfaceAddress: options.interface,
    },
    credentials: resolveCredentials(options),
    onEvent: options.verbose ? onEvent : undefined,
    onFailover: onEvent,
  };
}

/** A whole number from the command line; a usage error in one sentence otherwise. */
export function parsePositiveInt(value: string, what: string, allowZero = false): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || (n === 0 && !allowZero)) {
    throw new UsageError(
      `${what} must be a ${allowZero ? 'non-negative' : 'positive'} integer, not "${value}".`,
    );
  }
  return n;
}
