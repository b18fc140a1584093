/**
 * Hosts of the test's own: one network namespace per host, each with one veth
 * link to a bridge that lives in a namespace of its own, on a private subnet that
 * exists only inside the test. The machine's own namespace gets no address,
 * route or link, so nothing can leave by its interfaces. Needs root; everything
 * made is deleted when the test ends, also on failure.
 *
 * Every host knows every other host's link address from the start (permanent
 * neighbour entries, like a static ARP table): the kernel keeps one ARP table for
 * all its namespaces, limited to net.ipv4.neigh.default.gc_thresh3 (1,024) learned
 * entries in all, so 50 hosts in a full mesh (50 × 49 entries) filled it and the
 * hosts that came last could send nothing, neither TCP nor multicast (ENOBUFS,
 * "neighbor table overflow" in dmesg). Permanent entries do not count towards
 * that limit, and on a real LAN each machine has a table of its own.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer, type Cleanup, type ServerProcess } from './cli.ts';

const exec = promisify(execFile);

export interface Host {
  /** The namespace to run commands in. */
  netns: string;
  /** The host's address on the test subnet. */
  address: string;
  /** Its link to the bridge, inside its namespace. */
  link: string;
}

async function ip(...args: string[]): Promise<void> {
  try {
    await exec('ip', args);
  } catch (err) {
    throw new Error(
      `ip ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`,
      { cause: err },
    );
  }
}

/** Makes `count` hosts on one bridge; returns them (addresses .1, .2, …). */
export async function makeHosts(t: Cleanup, count: number): Promise<Host[]> {
  if (process.getuid?.() !== 0)
    throw new Error('the multi-host tests need root (network namespaces); CI runs as root');
  // Short, unique names: interface names are limited to 15 characters.
  const tag = `lf${process.pid % 1000}${Math.floor(Math.random() * 1000)}`;
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
  const bridgeNs = `${tag}b`;
  const made: string[] = [];
  t.after(async () => {
    for (const ns of made.reverse()) {
      dropped.delete(ns); // its rules go with it
      await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  });
  await ip('netns', 'add', bridgeNs);
  made.push(bridgeNs);
  await ip('-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
  // Multicast crosses the bridge only with IGMP snooping off.
  await ip('-n', bridgeNs, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  await ip('-n', bridgeNs, 'link', 'set', 'br0', 'up');
  const hosts: Host[] = [];
  for (let i = 1; i <= count; i++) {
    const netns = `${tag}h${i}`;
    await ip('netns', 'add', netns);
    made.push(netns);
    const link = `eth${i}`;
    await ip(
      'link',
      'add',
      link,
      'netns',
      netns,
      'address',
      linkAddress(i),
      'type',
      'veth',
      'peer',
      'name',
      `p${i}`,
      'netns',
      bridgeNs,
    );
    await ip('-n', bridgeNs, 'link', 'set', `p${i}`, 'master', 'br0');
    await ip('-n', bridgeNs, 'link', 'set', `p${i}`, 'up');
    const address = `${subnet}.${i}`;
    await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', link);
    await ip('-n', netns, 'link', 'set', link, 'up');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
    await ip('-n', netns, 'route', 'add', '224.0.0.0/4', 'dev', link);
    hosts.push({ netns, address, link });
  }
  for (const [i, host] of hosts.entries()) {
    const others = hosts.filter((other) => other !== host);
    await ipBatch(
      host.netns,
      others.map(
        (other) =>
          `neigh replace ${other.address} lladdr ${linkAddress(hosts.indexOf(other) + 1)} dev ${host.link} nud permanent`,
      ),
    ).catch((err: Error) => {
      throw new Error(`host ${i + 1}: ${err.message}`, { cause: err });
    });
  }
  return hosts;
}

/** Host i's link address: locally administered, unique on the test's bridge. */
function linkAddress(i: number): string {
  return `02:4c:46:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

/** Runs `ip` commands in netns, one per line, in one process. */
async function ipBatch(netns: string, commands: string[]): Promise<void> {
  if (commands.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const child = execFile('ip', ['-n', netns, '-batch', '-'], (err, _out, stderr) =>
      err ? reject(new Error(`ip -n ${netns} -batch failed: ${stderr || err.message}`)) : resolve(),
    );
    child.stdin?.end(commands.join('\n') + '\n');
  });
}

/** Pulls the host's cable (or plugs it back in). */
export async function setLink(host: Host, up: boolean): Promise<void> {
  await ip('-n', host.netns, 'link', 'set', host.link, up ? 'up' : 'down');
}

/**
 * Partitions between hosts: nftables rules in the receiving host's namespace drop
 * what comes from the other host (TCP and multicast alike), so a cut needs no
 * change to the bridge and heals by rewriting one table. `cut(a, b)` drops both
 * ways; `{ oneWay: true }` drops only what a sends to b. The rules are kept here
 * per namespace, so a partial heal rewrites the rest; deleting the namespace at
 * the end of the test deletes its table too.
 */
const TABLE = 'lanfs_cut';
const dropped = new Map<string, { host: Host; from: Set<string> }>();

async function nft(netns: string, script: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], (err, _out, stderr) =>
      err ? reject(new Error(`nft in ${netns} failed: ${stderr || err.message}`)) : resolve(),
    );
    child.stdin?.end(script);
  });
}

async function writeRules(host: Host): Promise<void> {
  const from = [...(dropped.get(host.netns)?.from ?? [])];
  // "add table" then "delete table" makes the delete safe when no table exists yet.
  let script = `add table inet ${TABLE}\ndelete table inet ${TABLE}\n`;
  if (from.length > 0) {
    script +=
      `table inet ${TABLE} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n` +
      `    ip saddr { ${from.join(', ')} } drop\n  }\n}\n`;
  }
  await nft(host.netns, script);
}

/** Drops traffic between a and b (both ways, or only a → b with oneWay). */
export async function cut(a: Host, b: Host, { oneWay = false } = {}): Promise<void> {
  const add = async (to: Host, from: Host): Promise<void> => {
    const entry = dropped.get(to.netns) ?? { host: to, from: new Set<string>() };
    entry.from.add(from.address);
    dropped.set(to.netns, entry);
    await writeRules(to);
  };
  await add(b, a);
  if (!oneWay) await add(a, b);
}

/** Cuts every host of one side from every host of the other (a full partition). */
export async function partition(side: Host[], other: Host[]): Promise<void> {
  for (const a of side) for (const b of other) await cut(a, b);
}

/**
 * Heals cuts: between a and b (both ways) when given, else every cut this
 * process made. Resolves once the rules are gone.
 */
export async function heal(a?: Host, b?: Host): Promise<void> {
  if (a && b) {
    for (const [to, from] of [
      [a, b],
      [b, a],
    ] as const) {
      const entry = dropped.get(to.netns);
      if (entry?.from.delete(from.address)) await writeRules(to);
    }
    return;
  }
  const entries = [...dropped.values()];
  dropped.clear();
  for (const entry of entries) await writeRules(entry.host).catch(() => undefined);
}

/**
 * `lanfs server` inside host's namespace: on every address at port, multicast on
 * the host's own interface and group (never the machine's interfaces).
 */
export async function startServerOn(
  t: Cleanup,
  host: Host,
  options: {
    data: string;
    id: number;
    key: string;
    group: string;
    port: number;
    args?: string[];
    env?: NodeJS.ProcessEnv;
  },
): Promise<ServerProcess> {
  return await startServer(
    t,
    [
      ...['--data', options.data, '--id', String(options.id), '--key', options.key],
      ...['--host', '0.0.0.0', '--port', String(options.port)],
      ...['--interface', host.address, '--group', options.group],
      ...(options.args ?? []),
    ],
    options.env ?? {},
    host.netns,
  );
}
