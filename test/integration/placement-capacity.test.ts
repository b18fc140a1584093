/**
 * Placement across unequal disks (issue 16 part 4): three servers with unequal
 * `--capacity`; the copies of new files go to the server using the smaller share
 * of its capacity, where the fewest-files rule would alternate between the two.
 * Each server learns the others' capacity from their heartbeats and their bytes
 * from their records. The rule itself is tested in src/cluster/placement.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LanfsClient } from '../../src/client/client.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startCluster, TEST_KEY } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const FILE_BYTES = 10_000;
const FILES = 10;
/** Server 2 offers 1 MB, server 3 100 MB: one file on 2 weighs as much as 100 on 3. */
const CAPACITY = ['1GB', '1MB', '100MB'];
const credentials = { key: TEST_KEY, insecure: false, cluster: 'lanfs' };

test(
  'placement capacity - the copies of new files go to the roomier server',
  { timeout: 60_000 },
  async (t) => {
    const cluster = await startCluster(t, 3, {
      args: (i) => ['--replicas', '2', '--capacity', CAPACITY[i]!],
    });
    const client = await LanfsClient.connect({
      servers: [cluster.servers[0]!.address],
      credentials,
    });
    onCleanup(t, () => client.close());
    const held = async (): Promise<Map<number, number>> => {
      const status = await client.status();
      return new Map(status.servers.map((s) => [s.id, s.files]));
    };
    for (let n = 0; n < FILES; n++) {
      await client.create(`f${n}.bin`, [Buffer.alloc(FILE_BYTES, n)], { size: FILE_BYTES });
      // Server 1 counts the copy before the next create (as lanfs why-plan does).
      await waitFor(
        `server 1 to count the copy of f${n}.bin`,
        held,
        (files) => (files.get(2) ?? 0) + (files.get(3) ?? 0) === n + 1,
      );
    }
    const files = await held();
    // By share: the first copy to 2 (equal shares, lower id), the rest to 3. The
    // fewest-files rule gives each 5.
    assert.deepEqual([files.get(2), files.get(3)], [1, FILES - 1]);
  },
);
