/**
 * The peer part of `npm run bench` (issue 10): lanfs next to GlusterFS, the
 * replicated file system a user on a LAN would otherwise pick, on the four
 * figures the issue names, in the same run and with the same tools:
 *
 *   1. 4 KiB creates, 16 clients: lanfs over its protocol (2 durable copies) vs
 *      new files written into the GlusterFS mount (replica 2; no fsync, as `cp`
 *      writes; the same with fsync is printed beside it);
 *   2. 4 KiB reads, 16 clients, of the files the creates made (as many on each
 *      side): lanfs over its protocol vs reads from the mount, mounted anew first;
 *      the warm-up then reads them once, so both read files they hold in memory;
 *   3. 512 MiB up: `lanfs create` vs `cp` into the mount;
 *   4. 512 MiB down: `lanfs download` vs `cp` out of the mount (mounted anew).
 *
 * Both run on this machine: lanfs as 3 servers with 2 copies, GlusterFS as one
 * volume of two bricks (bench/glusterfs.ts). The 4 KiB figures go through the
 * load tool (bench/load.ts); the large ones time a whole program each, start-up
 * included (node for lanfs, cp for GlusterFS). Each figure is the median of
 * BENCH_ROUNDS rounds, the two taking turns in each round, and each ratio the
 * median of the rounds' ratios. The part is skipped, with a note, when
 * GlusterFS is not installed.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  cli,
  type CoreRow,
  fmtMBps,
  fmtOps,
  fmtRatio,
  load,
  printSummary,
  startCluster,
} from './core.ts';
import { glusterfsMissing, startGlusterfs, type Glusterfs } from './glusterfs.ts';
import {
  type BenchServer,
  connectClient,
  credentials,
  LARGE_BYTES,
  makeLargeFile,
  mbps,
  medians,
  pairedRatio,
  roundRatios,
  ROUNDS,
  tempRoot,
  timed,
} from './lib.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const run = promisify(execFile);

/** Times `cp from to`, a whole program as `lanfs create` is. */
async function cp(from: string, to: string): Promise<number> {
  return await timed(async () => {
    await run('cp', [from, to], { timeout: 600_000 });
  });
}

export async function runPeerBench(): Promise<void> {
  const missing = glusterfsMissing();
  if (missing) {
    console.log(`\npeer: GlusterFS is skipped: ${missing}.`);
    return;
  }
  const temp = await tempRoot('peer');
  const root = temp.path;
  let servers: BenchServer[] = [];
  let gluster: Glusterfs | undefined;
  try {
    servers = await startCluster(join(root, 'lanfs'));
    gluster = await startGlusterfs(join(root, 'glusterfs'));
    if (!gluster) return;
    const mount = gluster.mount;
    const one = servers[0]!;
    console.log(
      `\nlanfs next to ${gluster.version} (replica 2 over FUSE), 16 clients, 4 KiB for ${SECONDS} s, ` +
        `${LARGE_BYTES / 1048576} MiB with a program each, median of ${ROUNDS} rounds\n`,
    );
    const f = {
      lanfsCreate: [] as number[],
      glusterWrite: [] as number[],
      glusterDurable: [] as number[],
      lanfsRead: [] as number[],
      glusterRead: [] as number[],
      lanfsUp: [] as number[],
      glusterUp: [] as number[],
      lanfsDown: [] as number[],
      glusterDown: [] as number[],
    };
    const source = join(root, 'large.bin');
    await makeLargeFile(source);
    const downloaded = [
      join(root, 'lanfs-download.bin'),
      join(root, 'glusterfs-download.bin'),
    ] as const;
    const client = await connectClient(one.address);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // Who goes first changes every round: the machine's state drifts within a round.
        const inTurn = async (a: () => Promise<void>, b: () => Promise<void>): Promise<void> => {
          if (round % 2 === 0) {
            await a();
            await b();
          } else {
            await b();
            await a();
          }
        };
        // lanfs's files go under p<round>/ of the cluster, GlusterFS's are g<round>-… in the mount.
        const lanfs = {
          target: one.address,
          prefix: `p${round}/`,
          seconds: SECONDS,
          key: credentials.key,
        };
        const glusterfs = { target: mount, prefix: `g${round}-`, seconds: SECONDS };
        let lanfsFiles = 0;
        let glusterFiles = 0;
        await inTurn(
          async () => {
            const r = await load({ ...lanfs, kind: 'lanfs-create' });
            f.lanfsCreate.push(r.opsPerSecond);
            lanfsFiles = r.ops;
          },
          async () => {
            const r = await load({ ...glusterfs, kind: 'file-write' });
            f.glusterWrite.push(r.opsPerSecond);
            glusterFiles = r.ops;
          },
        );
        // Not in any ratio (printed beside the create figure), so outside the turns.
        f.glusterDurable.push(
          (await load({ ...glusterfs, kind: 'local-create', prefix: `d${round}-` })).opsPerSecond,
        );
        await gluster.remount();
        // Both read the same number of files: the fewer either made.
        const files = Math.min(lanfsFiles, glusterFiles);
        await inTurn(
          async () => {
            f.lanfsRead.push((await load({ ...lanfs, kind: 'lanfs-read', files })).opsPerSecond);
          },
          async () => {
            f.glusterRead.push(
              (await load({ ...glusterfs, kind: 'file-read', files })).opsPerSecond,
            );
          },
        );

        const name = `large-${round}.bin`;
        const inMount = join(mount, name);
        await inTurn(
          async () => {
            f.lanfsUp.push(
              mbps(LARGE_BYTES, await cli(one.address, ['create', name, '--from', source])),
            );
          },
          async () => {
            f.glusterUp.push(mbps(LARGE_BYTES, await cp(source, inMount)));
          },
        );
        await gluster.remount();
        // Each writes a file of its own, both removed after the pair: the second never
        // writes into memory the first freed a moment ago (see core.ts).
        await inTurn(
          async () => {
            f.lanfsDown.push(
              mbps(
                LARGE_BYTES,
                await cli(one.address, ['download', name, '-o', downloaded[0], '--force']),
              ),
            );
          },
          async () => {
            f.glusterDown.push(mbps(LARGE_BYTES, await cp(inMount, downloaded[1])));
          },
        );
        await Promise.all(downloaded.map((d) => rm(d, { force: true })));
        // One large file of each at a time on the disk.
        await client.delete(name);
        await rm(inMount, { force: true });
        console.log(
          `round ${round + 1} (${round % 2 === 0 ? 'lanfs first' : 'GlusterFS first'}): ` +
            `creates lanfs ${fmtOps(f.lanfsCreate[round]!)}, GlusterFS ${fmtOps(f.glusterWrite[round]!)} ` +
            `(with fsync ${fmtOps(f.glusterDurable[round]!)}); reads lanfs ${fmtOps(f.lanfsRead[round]!)}, ` +
            `GlusterFS ${fmtOps(f.glusterRead[round]!)}; up lanfs ${fmtMBps(f.lanfsUp[round]!)}, ` +
            `GlusterFS ${fmtMBps(f.glusterUp[round]!)}; down lanfs ${fmtMBps(f.lanfsDown[round]!)}, ` +
            `GlusterFS ${fmtMBps(f.glusterDown[round]!)}`,
        );
      }
    } finally {
      client.close();
    }

    const m = medians(f);
    const mib = LARGE_BYTES / 1048576;
    const row = (figure: string, lanfs: string, reference: string, value: number): CoreRow => ({
      figure,
      lanfs,
      reference,
      ratio: fmtRatio(value),
      goal: '≥ 1.0×',
      met: value >= 1 ? 'yes' : 'no',
    });
    printSummary(
      "Summary (issue 10, lanfs next to GlusterFS): each figure the median of its rounds, each ratio the median of the rounds' ratios:",
      [
        row(
          '4 KiB create, 16 clients',
          `${fmtOps(m.lanfsCreate)} (2 durable copies)`,
          `GlusterFS ${fmtOps(m.glusterWrite)} (no fsync; ${fmtOps(m.glusterDurable)} with)`,
          pairedRatio(f.lanfsCreate, f.glusterWrite),
        ),
        row(
          '4 KiB read, 16 clients',
          fmtOps(m.lanfsRead),
          `GlusterFS ${fmtOps(m.glusterRead)}`,
          pairedRatio(f.lanfsRead, f.glusterRead),
        ),
        row(
          `${mib} MiB up, one program`,
          `${fmtMBps(m.lanfsUp)} (lanfs create)`,
          `GlusterFS ${fmtMBps(m.glusterUp)} (cp)`,
          pairedRatio(f.lanfsUp, f.glusterUp),
        ),
        row(
          `${mib} MiB down, one program`,
          `${fmtMBps(m.lanfsDown)} (lanfs download)`,
          `GlusterFS ${fmtMBps(m.glusterDown)} (cp)`,
          pairedRatio(f.lanfsDown, f.glusterDown),
        ),
      ],
    );
    console.log(
      `\nratio in each round: creates ${roundRatios(f.lanfsCreate, f.glusterWrite)}; ` +
        `reads ${roundRatios(f.lanfsRead, f.glusterRead)}; up ${roundRatios(f.lanfsUp, f.glusterUp)}; ` +
        `down ${roundRatios(f.lanfsDown, f.glusterDown)}`,
    );
  } finally {
    try {
      await gluster?.stop();
    } finally {
      try {
        await Promise.all(servers.map((s) => s.shutdown()));
      } finally {
        await temp.remove();
      }
    }
  }
}
