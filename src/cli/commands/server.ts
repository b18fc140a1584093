/**
 * `lanfs server`: runs one server in the foreground until SIGINT or SIGTERM.
 */
import { LanfsServer, type ServerOptions } from '../../server/server.ts';
import { parseGroup } from '../../discovery/multicast-beacon.ts';
import { type LanfsError, UsageError } from '../../shared/errors.ts';
import { createLogger, logFormatFrom } from '../../shared/logger.ts';
import { note, print, type CliContext } from '../context.ts';
import { addressList, parsePositiveInt, resolveCredentials, type KeyOptions } from '../options.ts';
import { parseBudget } from '../../storage/version-store.ts';

export interface ServerCommandOptions extends KeyOptions {
  data: string;
  id?: string;
  port: string;
  host: string;
  replicas: string;
  httpPort?: string;
  group: string;
  interface?: string;
  peers?: string;
  multicast: boolean;
  peerTimeout: string;
  healAfter: string;
  maxFileSize?: string;
  /** The bytes this server offers to placement (500G, 2T, 1GB); absent: the fewest-files rule. */
  capacity?: string;
  maxConnections: string;
  stallTimeout: string;
  idleTimeout: string;
  /** json | pretty; default pretty on a terminal, json otherwise (a file, a pipe, journald). */
  logFormat?: string;
  /** How long an S3 multipart upload may be left alone before its parts are removed (90s, 30m, 24h). */
  multipartExpiry?: string;
  /** MB/s the background scrub reads at most; 0 turns it off (issue 13). */
  scrubRate?: string;
  keepVersions: string;
  versionsBudget: string;
  trashDays: string;
  deleteBrake: string;
  allowFaults?: boolean;
}

/** --capacity: a size like `500G`, `2TiB` or `1GB` (as --versions-budget reads one, no share), in bytes. */
export function parseCapacity(value: string): number {
  let bytes: number | undefined;
  try {
    const size = parseBudget(value);
    bytes = 'bytes' in size ? size.bytes : undefined;
  } catch {
    bytes = undefined;
  }
  if (bytes === undefined || bytes <= 0)
    throw new UsageError(
      `--capacity ${JSON.stringify(value)} is not a size (like 500G, 2T or 1GB) above zero.`,
    );
  return bytes;
}

/** A duration like `90s`, `30m`, `24h` or `2d` (a bare number is seconds), in ms. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m?.[2] ?? 's'];
  const ms = m === null || unit === undefined ? NaN : Number(m[1]) * unit;
  if (!(ms > 0))
    throw new UsageError(
      `${what} must be a positive duration like 90s, 30m or 24h, not "${value}".`,
    );
  return ms;
}

/** --scrub-rate: MB/s, a number >= 0 (fractions allowed: 0.5 is 500 kB/s). */
export function parseScrubRate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(
      `--scrub-rate must be a number of MB/s (0 turns the scrub off), not "${value}".`,
    );
  return n;
}

export function serverOptionsFrom(options: ServerCommandOptions): Omit<ServerOptions, 'logger'> {
  const port = parsePositiveInt(options.port, '--port', true);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}.`);
  return {
    dataDir: options.data,
    serverId: options.id === undefined ? undefined : parsePositiveInt(options.id, '--id'),
    host: options.host,
    port,
    replicas: parsePositiveInt(options.replicas, '--replicas'),
    credentials: resolveCredentials(options),
    discovery: options.multicast
      ? { group: parseGroup(options.group), interfaceAddress: options.interface }
      : undefined,
    peers: addressList(options.peers),
    scrubRateMBps: options.scrubRate === undefined ? undefined : parseScrubRate(options.scrubRate),
    peerTimeoutMs: parsePositiveInt(options.peerTimeout, '--peer-timeout'),
    healAfterMs: parsePositiveInt(options.healAfter, '--heal-after', true),
    httpPort:
      options.httpPort === undefined
        ? undefined
        : parsePositiveInt(options.httpPort, '--http-port', true),
    capacityBytes: options.capacity === undefined ? undefined : parseCapacity(options.capacity),
    multipartExpiryMs:
      options.multipartExpiry === undefined
        ? undefined
        : parseDuration(options.multipartExpiry, '--multipart-expiry'),
    keep: {
      keepVersions: parsePositiveInt(options.keepVersions, '--keep-versions', true),
      budget: parseBudget(options.versionsBudget),
      trashMs: parsePositiveInt(options.trashDays, '--trash-days', true) * 86_400_000,
    },
    deleteBrake: parsePositiveInt(options.deleteBrake, '--delete-brake'),
    allowFaults: options.allowFaults === true,
    limits: {
      maxFileBytes:
        options.maxFileSize === undefined
          ? 0
          : parsePositiveInt(options.maxFileSize, '--max-file-size'),
      maxConnections: parsePositiveInt(options.maxConnections, '--max-connections'),
      stallMs: parsePositiveInt(options.stallTimeout, '--stall-timeout'),
      idleMs: parsePositiveInt(options.idleTimeout, '--idle-timeout'),
    },
  };
}

export async function server(ctx: CliContext, options: ServerCommandOptions): Promise<void> {
  let fatal: ((err: LanfsError) => void) | undefined;
  const format = logFormatFrom(options.logFormat, process.stderr.isTTY === true);
  const server = new LanfsServer({
    ...serverOptionsFrom(options),
    logger: createLogger({ format }),
    onFatal: (err) => fatal?.(err),
  });
  await server.start();
  // Listening for SIGINT and SIGTERM before saying "serving": a script that waits for that
  // line and then stops the server must find it ready to stop cleanly.
  const stopped = new Promise<LanfsError | undefined>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(undefined);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    fatal = (err) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(err);
    };
  });
  const scan = server.scanReport!;
  print(
    ctx,
    `lanfs server ${server.id} serving ${server.catalog.directory.root} (${scan.files} files) on ${options.host}:${server.port}`,
  );
  if (server.httpAddress) print(ctx, `Dashboard: http://${server.httpAddress}/`);
  if (options.tlsCert && !options.tlsCa)
    note(
      ctx,
      'TLS without --tls-ca: connections are encrypted; clients and peers prove themselves with the cluster key only.',
    );
  if (options.insecure)
    note(
      ctx,
      'WARNING: running without a cluster key (--insecure): anyone on the LAN can read and change these files.',
    );
  const failure = await stopped;
  if (failure) throw failure; // the server has already stopped itself
  await server.stop();
  print(ctx, `lanfs server ${server.id} stopped.`);
}
