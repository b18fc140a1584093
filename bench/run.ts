/**
 * `npm run bench`: lanfs next to raw baselines measured in the same run, on
 * loopback (see docs/PERFORMANCE.md for what each figure means and the goals).
 *
 *   large  - 512 MiB: a plain Node TCP copy (file → socket → file, receiver in
 *            another process), then lanfs create and download of the same file.
 *   small  - 4 KiB files: lanfs create and download ops/s with 1 and 16 clients,
 *            against the same workload on a local directory with Node fs.
 *
 * Sizes can be lowered for a quick look: BENCH_LARGE_MIB=64 BENCH_SMALL_FILES=500.
 */
import { runClusterBench } from './cluster.ts';
import { runFailoverBench } from './failover.ts';
import { runReplicationBench } from './replication.ts';
import { runStorageBench } from './storage.ts';

const only = process.env.BENCH_ONLY;
if (!only || only === 'storage') await runStorageBench();
if (!only || only === 'cluster') await runClusterBench();
if (!only || only === 'replication') await runReplicationBench();
if (!only || only === 'failover') await runFailoverBench();
