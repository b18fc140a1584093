/**
 * `npm run bench`: lanfs next to references measured in the same run, on
 * loopback (see docs/PERFORMANCE.md for what each figure means and the goals).
 *
 *   npm run bench               every part: storage, cluster, replication, failover,
 *                               protocols, peer, then core, and the core summary last
 *   npm run bench -- core       only the five core figures (issue 10) and their summary
 *   npm run bench -- profile    CPU profiles of the servers under 4 KiB HTTP creates
 *   npm run bench -- protocols  WebDAV and S3 next to lanfs's own HTTP and CLI (issue 12)
 *   npm run bench -- peer       lanfs next to GlusterFS (replica 2 over FUSE) on the issue 10 figures
 *   npm run bench -- scale      3 to 50 servers found by multicast: full image, quiet traffic, RSS (issue 16)
 *   BENCH_ONLY=storage|cluster|replication|failover|protocols|peer|core npm run bench   one part
 *
 * Sizes can be lowered for a quick look: BENCH_LARGE_MIB=64 BENCH_SECONDS=1
 * BENCH_ROUNDS=1 (and BENCH_SMALL_FILES=500 for the older parts).
 */
import { runClusterBench } from './cluster.ts';
import { printCoreSummary, runCoreBench } from './core.ts';
import { runFailoverBench, runRejoinBench } from './failover.ts';
import { runProfile } from './profile.ts';
import { runPeerBench } from './peer.ts';
import { runProtocolsBench } from './protocols.ts';
import { runReplicationBench } from './replication.ts';
import { runScaleBench } from './scale.ts';
import { runStorageBench } from './storage.ts';

// Ctrl-C: leave through process.exit, so lib.ts stops the servers, nginx and GlusterFS and removes temp folders.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const only = process.argv[2] ?? process.env.BENCH_ONLY;
const parts = [
  'storage',
  'cluster',
  'replication',
  'failover',
  'protocols',
  'peer',
  'core',
  'profile',
  'scale',
];
if (only && !parts.includes(only)) {
  console.error(`bench: unknown part "${only}"; one of ${parts.join(', ')}, or nothing for all.`);
  process.exit(2);
}
if (only === 'profile') await runProfile();
// Only when asked for: it runs up to 50 servers at once for several minutes.
if (only === 'scale') await runScaleBench();
if (!only || only === 'storage') await runStorageBench();
if (!only || only === 'cluster') await runClusterBench();
if (!only || only === 'replication') await runReplicationBench();
if (!only || only === 'failover') {
  await runFailoverBench();
  await runRejoinBench();
}
if (!only || only === 'protocols') await runProtocolsBench();
if (!only || only === 'peer') await runPeerBench();
if (!only || only === 'core') printCoreSummary(await runCoreBench());
