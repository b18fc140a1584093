/**
 * `lanfs doctor` on hosts of the test's own (network namespaces on a bridge): a
 * healthy cluster is found by multicast and reached; with multicast dropped by
 * nftables on the client's host, doctor names multicast as the cause and says
 * to give --server / --peers, and still reaches the cluster when given --server;
 * with another key it says the key is refused. Runs as root, in CI too.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { runCli, uniqueGroup } from '../harness/cli.ts';
import { makeHosts, startServerOn, type Host } from '../harness/netns.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'netns-doctor-key';
const PORT = 7070;

/** Drops every multicast datagram into and out of the host (a table of this test's own). */
async function dropMulticast(host: Host): Promise<void> {
  const script =
    'table inet lanfs_doctor {\n' +
    '  chain input { type filter hook input priority 0; policy accept; ip daddr 224.0.0.0/4 drop; }\n' +
    '  chain output { type filter hook output priority 0; policy accept; ip daddr 224.0.0.0/4 drop; }\n' +
    '}\n';
  await new Promise<void>((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', host.netns, 'nft', '-f', '-'], (err, _o, e) =>
      err ? reject(new Error(`nft failed: ${e || err.message}`)) : resolve(),
    );
    child.stdin?.end(script);
  });
}

interface Step {
  step: string;
  result: string;
  found: string[];
  todo?: string;
}

test(
  'doctor - healthy, multicast blocked by nftables, and a wrong key',
  { timeout: 120_000 },
  async (t) => {
    const hosts = await makeHosts(t, 3);
    const group = uniqueGroup();
    for (const [i, host] of hosts.slice(0, 2).entries()) {
      await startServerOn(t, host, {
        data: await tempDir(t),
        id: i + 1,
        key: KEY,
        group,
        port: PORT,
      });
    }
    const client = hosts[2]!;
    const doctor = (args: string[], key = KEY) =>
      runCli(['doctor', '--listen', '2', ...args], {
        netns: client.netns,
        env: { LANFS_KEY: key, LANFS_INTERFACE: client.address, LANFS_GROUP: group },
      });
    const stepsOf = (stdout: string): Step[] => (JSON.parse(stdout) as { steps: Step[] }).steps;

    // Healthy: both servers heard, answered, reached; exit 0.
    const healthy = await waitFor(
      'doctor to find and reach both servers',
      () => doctor(['--json']),
      (r) =>
        r.code === 0 &&
        (JSON.parse(r.stdout) as { servers: { handshake: boolean }[] }).servers.filter(
          (s) => s.handshake,
        ).length === 2,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    for (const name of ['multicast', 'announcements', 'query', 'reach', 'key', 'clock'])
      assert.equal(stepsOf(healthy.stdout).find((s) => s.step === name)?.result, 'ok', name);
    const text = await doctor([]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Joined the multicast group .* on interface eth3/);
    assert.match(text.stdout, /The cluster is reachable/);

    // Another key: found, but refused (exit 7, the key named).
    const wrong = await doctor([], 'not-the-key');
    assert.equal(wrong.code, 7, wrong.stdout + wrong.stderr);
    assert.match(wrong.stdout, /another key/);
    assert.match(wrong.stderr, /refused the key/);

    // Multicast dropped on the client's host: the cause named, --server and --peers suggested.
    await dropMulticast(client);
    const blocked = await doctor([]);
    assert.equal(blocked.code, 5, blocked.stdout + blocked.stderr);
    assert.match(blocked.stdout, /\[FAIL\] announcements/);
    assert.match(blocked.stderr, /multicast does not get through/);
    assert.match(blocked.stderr, /--server/);
    assert.match(blocked.stderr, /--peers/);
    assert.match(blocked.stdout, /TTL 1/);

    // With --server it reaches the cluster (exit 0) and still says multicast fails.
    const direct = await doctor(['--json', '--server', `${hosts[0]!.address}:${PORT}`]);
    assert.equal(direct.code, 0, direct.stdout + direct.stderr);
    const steps = stepsOf(direct.stdout);
    assert.equal(steps.find((s) => s.step === 'announcements')?.result, 'failed');
    assert.equal(steps.find((s) => s.step === 'reach')?.result, 'ok');
    // The second server was learned from the first one's member list.
    assert.equal(
      (JSON.parse(direct.stdout) as { servers: { handshake: boolean }[] }).servers.filter(
        (s) => s.handshake,
      ).length,
      2,
    );
  },
);
