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
import { CAPACITY_PLACEMENT_RULE } from '../../src/cluster/placement.ts';
import { runCli } from '../harness/cli.ts';
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

    const json = async (args: string[]): Promise<unknown> => {
      const result = await runCli([...args, '--json'], { env: cluster.env(0) });
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout);
    };
    // status shows each server's capacity; why replays the choice from what was recorded.
    const status = (await json(['status'])) as { servers: { id: number; capacity?: number }[] };
    assert.deepEqual(
      status.servers.map((s) => [s.id, s.capacity]),
      [
        [1, 1e9],
        [2, 1e6],
        [3, 1e8],
      ],
    );
    const why = (await json(['why', 'f1.bin'])) as {
      rule: string;
      atCreate: { candidates: { id: number }[]; chose: number[] };
    };
    assert.equal(why.rule, CAPACITY_PLACEMENT_RULE);
    assert.deepEqual(why.atCreate.chose, [3]);
    assert.deepEqual(
      why.atCreate.candidates.slice().sort((a, b) => a.id - b.id),
      [
        { id: 2, files: 1, bytes: FILE_BYTES, capacity: 1e6 },
        { id: 3, files: 0, bytes: 0, capacity: 1e8 },
      ],
    );
  },
);
