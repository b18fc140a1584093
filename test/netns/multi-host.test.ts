/**
 * Three hosts (network namespaces on a bridge, a subnet that exists only inside
 * this test), one real server each: discovery by multicast across the bridge,
 * the single system image, a redirect, and a host cut off (its link down) being
 * marked down and coming back. Runs as root, in CI too.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, uniqueGroup, type ServerProcess } from '../harness/cli.ts';
import { makeHosts, setLink, startServerOn, type Host } from '../harness/netns.ts';
import { tempDir } from '../harness/tmp-dir.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'netns-test-key';
const PORT = 7070;

test(
  'multi-host - discovery across a bridge, one image, a redirect, a host cut off and back',
  { timeout: 90_000 },
  async (t) => {
    const hosts = await makeHosts(t, 3);
    const group = uniqueGroup();
    const servers: ServerProcess[] = [];
    for (const [i, host] of hosts.entries()) {
      const data = await tempDir(t);
      await mkdir(join(data, `host-${i + 1}`));
      await writeFile(join(data, `host-${i + 1}`, 'file.txt'), `on host ${i + 1}\n`);
      servers.push(
        await startServerOn(t, host, {
          data,
          id: i + 1,
          key: KEY,
          group,
          port: PORT,
          args: ['--replicas', '1'],
        }),
      );
    }
    const cli = (host: Host, args: string[]) =>
      runCli([...args, '--server', `${host.address}:${PORT}`], {
        netns: host.netns,
        env: { LANFS_KEY: KEY, LANFS_INTERFACE: host.address, LANFS_GROUP: group },
      });
    const names = async (host: Host): Promise<string[]> => {
      const result = await cli(host, ['show', '--json']);
      if (result.code !== 0) throw new Error(result.stderr);
      return (JSON.parse(result.stdout) as { name: string }[]).map((r) => r.name).sort();
    };
    const upOn = async (host: Host): Promise<Record<number, boolean>> => {
      const result = await cli(host, ['status', '--json']);
      if (result.code !== 0) throw new Error(result.stderr);
      return Object.fromEntries(
        (JSON.parse(result.stdout) as { servers: { id: number; up: boolean }[] }).servers.map(
          (s) => [s.id, s.up],
        ),
      );
    };

    const all = ['host-1/file.txt', 'host-2/file.txt', 'host-3/file.txt'];
    for (const host of hosts) {
      await waitFor(
        `the full list on ${host.address}`,
        () => names(host),
        (n) => JSON.stringify(n) === JSON.stringify(all),
        { timeoutMs: 10_000 },
      );
    }

    // Redirect: host 1's server does not hold host 3's file.
    const got = await cli(hosts[0]!, ['download', 'host-3/file.txt', '-o', '-', '-v']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, 'on host 3\n');
    assert.match(
      got.stderr,
      new RegExp(`going to server 3 at ${hosts[2]!.address.replace(/\./g, '\\.')}`),
    );

    // A client on host 2 finds a server by asking the group, across the bridge.
    const found = await runCli(['show', '-v'], {
      netns: hosts[1]!.netns,
      env: { LANFS_KEY: KEY, LANFS_INTERFACE: hosts[1]!.address, LANFS_GROUP: group },
    });
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stderr, /by multicast/);

    // Host 3's cable is pulled: the others mark it down by its silence; plugged back, it returns.
    await setLink(hosts[2]!, false);
    await waitFor(
      'server 3 down on host 1',
      () => upOn(hosts[0]!),
      (up) => up[3] === false,
      { timeoutMs: 8000 },
    );
    await setLink(hosts[2]!, true);
    await waitFor(
      'server 3 up again on host 1',
      () => upOn(hosts[0]!),
      (up) => up[3] === true,
      { timeoutMs: 10_000 },
    );
    const again = await cli(hosts[0]!, ['download', 'host-3/file.txt', '-o', '-']);
    assert.equal(again.stdout, 'on host 3\n', again.stderr);
    assert.equal(servers.length, 3);
  },
);
