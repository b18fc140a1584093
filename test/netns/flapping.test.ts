/**
 * A flapping link (docs/RELIABILITY.md, B7): one host's traffic cut and let
 * through again every 1–3 s (seeded, so a failure replays) while files are
 * created on the stable side. What must hold: no storm of full syncs (the bytes
 * on the flapping host's link stay under a bound per reconnect far below one
 * full record list), no copy made twice, memory flat, and after the last heal
 * one image with every file at its copies. LANFS_FLAP_SECONDS (default 20 here,
 * 60 in the bench) and LANFS_FLAP_SEED choose the run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { heal, partition, type Host } from '../harness/netns.ts';
import { startNetnsCluster } from './netns-cluster.ts';

const exec = promisify(execFile);
const SECONDS = Number(process.env.LANFS_FLAP_SECONDS ?? 20);
const SEED = Number(process.env.LANFS_FLAP_SEED ?? 13);
/** Files each server finds in its folder at start: a full record list is worth measuring. */
const FILES_PER_SERVER = 200;

/** A small seeded generator (mulberry32): the same seed, the same schedule. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes received and sent on the host's link (the kernel's counters). */
async function linkBytes(host: Host): Promise<number> {
  const { stdout } = await exec('ip', ['-n', host.netns, '-s', '-j', 'link', 'show', host.link]);
  const [link] = JSON.parse(stdout) as {
    stats64: { rx: { bytes: number }; tx: { bytes: number } };
  }[];
  return link!.stats64.rx.bytes + link!.stats64.tx.bytes;
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

test(
  `flapping - a link cut and back every 1-3 s for ${SECONDS} s: no full-sync storm, no copy made twice, memory flat`,
  { timeout: (SECONDS + 70) * 1000 },
  async (t) => {
    const c = await startNetnsCluster(t, 3, 2, [], async (data, i) => {
      await mkdir(join(data, `s${i + 1}`));
      for (let k = 0; k < FILES_PER_SERVER; k++)
        await writeFile(join(data, `s${i + 1}`, `file-${k}.txt`), `server ${i + 1} file ${k}\n`);
    });
    await c.waitMembership([0, 1, 2], [0, 1, 2]);
    const before = await c.converge(40_000);
    assert.equal(before.length, 3 * FILES_PER_SERVER);
    // What one full record list of the flapping server weighs (it holds about 2/3 of them).
    const fullListBytes = Math.round((JSON.stringify(before).length * 2) / 3);

    const flapping = c.hosts[2]!;
    const quietFrom = await linkBytes(flapping);
    await new Promise((r) => setTimeout(r, 3000));
    const quietRate = ((await linkBytes(flapping)) - quietFrom) / 3;
    const logAt = c.servers.map((s) => s.log().length);
    const rssBefore = await Promise.all(c.servers.map((s) => rssBytes(s.child.pid!)));
    const bytesBefore = await linkBytes(flapping);
    const next = random(SEED);
    const created: string[] = [];
    const end = Date.now() + SECONDS * 1000;
    // Writes go on meanwhile on the stable side, apart from the schedule of the cuts.
    const writer = (async () => {
      for (let k = 0; Date.now() < end && k < SECONDS * 10; k++) {
        const name = `during/${k}.txt`;
        await c.create(0, name, `made during the flapping, ${k}\n`);
        created.push(name);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    let cuts = 0;
    for (let step = 0; Date.now() < end && step < SECONDS; step++) {
      if (step % 2 === 0) {
        await partition([flapping], [c.hosts[0]!, c.hosts[1]!]);
        cuts++;
      } else await heal();
      await new Promise((r) => setTimeout(r, 1000 + Math.floor(next() * 2000)));
    }
    await writer;
    await heal();
    await c.waitMembership([0, 1, 2], [0, 1, 2]);
    const bytesFlapping = (await linkBytes(flapping)) - bytesBefore;
    const after = await c.converge(40_000);
    assert.equal(after.length, 3 * FILES_PER_SERVER + created.length);
    for (const name of created)
      assert.ok(
        after.some((f) => f.name === name),
        name,
      );

    const logs = c.servers.map((s, i) => s.log().slice(logAt[i]));
    // Each link of server 3 lost (and dialed again once the cut heals).
    const reconnects = count(logs[2]!, /peer down/g);
    // The bound (docs/RELIABILITY.md B7): a reconnect costs a handshake, the members,
    // heartbeats and one delta of what changed while cut, never the whole record list.
    // Bytes on the flapping link: at most 16 KiB per reconnect plus 8 KiB/s (heartbeats,
    // announcements, the copies of the files created meanwhile); a full list is ~100 KiB.
    const bound = reconnects * 16 * 1024 + SECONDS * 8 * 1024;
    t.diagnostic(
      `seed ${SEED}: ${cuts} cuts, ${reconnects} reconnects of server 3, ${bytesFlapping} bytes on its link ` +
        `(bound ${bound}); one full record list ~${fullListBytes} bytes; quiet link ${Math.round(quietRate)} bytes/s`,
    );
    assert.ok(cuts >= 3, 'the link flapped');
    const fullSyncs = logs.map((log) => count(log, /full sync/g));
    assert.deepEqual(fullSyncs, [0, 0, 0], 'no server sent its whole record list');
    assert.ok(
      bytesFlapping <= bound,
      `${bytesFlapping} bytes on the flapping link, over the bound ${bound} (${reconnects} reconnects)`,
    );

    // No copy made twice: each file healed at most once, and none left above its copies.
    for (const name of created) {
      const healed = logs.reduce(
        (n, log) => n + count(log, new RegExp(`"name":"${name}"[^\\n]*"msg":"healed"`, 'g')),
        0,
      );
      assert.ok(healed <= 1, `${name} healed ${healed} times`);
    }
    for (const f of after) assert.equal(f.replicas.length, 1, `${f.name} at 2 copies`);
    t.diagnostic(
      `copies made by healing: ${logs.reduce((n, log) => n + count(log, /"msg":"healed"/g), 0)}`,
    );

    const rssAfter = await Promise.all(c.servers.map((s) => rssBytes(s.child.pid!)));
    t.diagnostic(`RSS before ${rssBefore.join(', ')}; after ${rssAfter.join(', ')}`);
    for (const [i, rss] of rssAfter.entries())
      assert.ok(
        rss <= rssBefore[i]! * 1.5 + 32 * 1024 * 1024,
        `server ${i + 1}: RSS ${rss} after, ${rssBefore[i]} before`,
      );
  },
);
