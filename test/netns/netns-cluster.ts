/**
 * A cluster of real servers, one per host (network namespace) on one bridge, for
 * the partition and flapping tests: start them, run the CLI on a host against
 * its own server, read each server's image, and wait until every server shows
 * the same one. Everything is stopped and deleted when the test ends.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, uniqueGroup, type CliResult, type ServerProcess } from '../harness/cli.ts';
import type { Cleanup } from '../harness/cli.ts';
import { makeHosts, startServerOn, type Host } from '../harness/netns.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'netns-partition-key';
export const PORT = 7070;

export interface ListedFile {
  name: string;
  fileId: string;
  version: number;
  sha256: string;
  primary: number;
  replicas: number[];
  available?: boolean;
  conflictOf?: string;
}

export interface NetnsCluster {
  hosts: Host[];
  servers: ServerProcess[];
  /** Runs the CLI on host i (0-based) against that host's server only. */
  cli: (i: number, args: string[], env?: NodeJS.ProcessEnv) => Promise<CliResult>;
  /** Creates name on host i's server with these bytes; throws if it fails. */
  create: (i: number, name: string, bytes: string) => Promise<void>;
  /** Edits name through host i's server to these bytes; returns the CLI result. */
  edit: (i: number, name: string, bytes: string) => Promise<CliResult>;
  /** Downloads name through host i's server (its bytes, or undefined when it fails). */
  read: (i: number, name: string) => Promise<string | undefined>;
  /** show --json on host i, sorted by name. */
  image: (i: number) => Promise<ListedFile[]>;
  /** Which servers host i sees up. */
  upOn: (i: number) => Promise<Record<number, boolean>>;
  /** Waits until every server in `on` sees every server in `expectUp` up and the others down. */
  waitMembership: (on: number[], expectUp: number[], timeoutMs?: number) => Promise<void>;
  /** Waits until every server shows the same image, every file available at `replicas` copies. */
  converge: (timeoutMs?: number) => Promise<ListedFile[]>;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The image as compared between servers: names, file identities, versions, bytes. */
export function summary(image: ListedFile[]): string {
  return JSON.stringify(image.map((f) => [f.name, f.fileId, f.version, f.sha256]));
}

export async function startNetnsCluster(
  t: Cleanup,
  count: number,
  replicas: number,
  extraArgs: string[] = [],
  /** Fills server i's data folder before it starts (files found at start). */
  prepare?: (data: string, i: number) => Promise<void>,
): Promise<NetnsCluster> {
  const hosts = await makeHosts(t, count);
  const group = uniqueGroup();
  const scratch = await tempDir(t);
  const servers = await Promise.all(
    hosts.map(async (host, i) => {
      const data = await tempDir(t);
      await prepare?.(data, i);
      return await startServerOn(t, host, {
        data,
        id: i + 1,
        key: KEY,
        group,
        port: PORT,
        args: ['--replicas', String(replicas), ...extraArgs],
        // Info: the tests count what servers did (heals, catch-ups, peers lost).
        env: { LANFS_LOG_LEVEL: 'info' },
      });
    }),
  );
  let edits = 0;
  const cli = (i: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    runCli([...args, '--server', `${hosts[i]!.address}:${PORT}`], {
      netns: hosts[i]!.netns,
      env: { LANFS_KEY: KEY, LANFS_INTERFACE: hosts[i]!.address, LANFS_GROUP: group, ...env },
    });
  const image = async (i: number): Promise<ListedFile[]> => {
    const result = await cli(i, ['show', '--json']);
    if (result.code !== 0) throw new Error(`show on host ${i + 1}: ${result.stderr}`);
    return (JSON.parse(result.stdout) as ListedFile[]).sort((a, b) => a.name.localeCompare(b.name));
  };
  const upOn = async (i: number): Promise<Record<number, boolean>> => {
    const result = await cli(i, ['status', '--json']);
    if (result.code !== 0) throw new Error(result.stderr);
    return Object.fromEntries(
      (JSON.parse(result.stdout) as { servers: { id: number; up: boolean }[] }).servers.map((s) => [
        s.id,
        s.up,
      ]),
    );
  };
  return {
    hosts,
    servers,
    cli,
    image,
    upOn,
    create: async (i, name, bytes) => {
      const path = join(scratch, `create-${sha256(name + bytes).slice(0, 12)}`);
      await writeFile(path, bytes);
      const made = await cli(i, ['create', name, '--from', path]);
      if (made.code !== 0) throw new Error(`create ${name} on host ${i + 1}: ${made.stderr}`);
    },
    edit: async (i, name, bytes) => {
      const path = join(scratch, `edit-${edits++}`);
      await writeFile(path, bytes);
      // --force: the edit lease of the previous edit from this host may still be held
      // (leases are not what these tests are about).
      return await cli(i, ['edit', '--force', name], { EDITOR: `cp ${path}`, VISUAL: '' });
    },
    read: async (i, name) => {
      const result = await cli(i, ['download', name, '-o', '-']);
      return result.code === 0 ? result.stdout : undefined;
    },
    waitMembership: async (on, expectUp, timeoutMs = 10_000) => {
      for (const i of on) {
        await waitFor(
          `membership seen from server ${i + 1}`,
          () => upOn(i),
          (up) =>
            hosts.every((_, j) => j === i || up[j + 1] === expectUp.includes(j)) &&
            expectUp.includes(i),
          { timeoutMs, intervalMs: 250 },
        );
      }
    },
    converge: async (timeoutMs = 20_000) => {
      let first: ListedFile[] = [];
      await waitFor(
        'the same image on every server, every file at its copies',
        async () => {
          const images = await Promise.all(hosts.map((_, i) => image(i)));
          first = images[0]!;
          return images;
        },
        (images) =>
          images.every((img) => summary(img) === summary(images[0]!)) &&
          images.every((img) =>
            img.every((f) => f.available !== false && f.replicas.length + 1 === replicas),
          ),
        { timeoutMs, intervalMs: 500 },
      );
      return first;
    },
  };
}
