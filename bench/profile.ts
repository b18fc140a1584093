/**
 * `npm run bench -- profile`: where the servers spend their CPU under the
 * 4 KiB HTTP create load of the core bench (3 servers, 2 copies, 16 clients
 * keep-alive). Every server runs with `--cpu-prof` (BENCH_PROFILE_DIR, default
 * ./tmp/bench-profile); after BENCH_PROFILE_SECONDS (10) of load they are
 * stopped with SIGTERM, which writes the profiles, and the top functions by
 * self time are printed for each server. Open a .cpuprofile in Chrome DevTools
 * (Performance tab) or VS Code for the whole picture.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load, startCluster } from './core.ts';
import { type BenchServer, credentials, tempRoot } from './lib.ts';

const SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
const TOP = Number(process.env.BENCH_PROFILE_TOP ?? 20);
const REPO = fileURLToPath(new URL('..', import.meta.url));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(url: string, line: number): string {
  const path = url.replace(/^file:\/\//, '');
  const short = path.startsWith(REPO)
    ? path.slice(REPO.length)
    : path.replace(/^.*node_modules\//, '');
  return short ? `${short}:${line + 1}` : '';
}

/** Self time per function (name + place), and the total, in ms. */
function selfTimes(profile: CpuProfile): { total: number; rows: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const times = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = byId.get(id)?.callFrame;
    const key = frame
      ? `${frame.functionName || '(anonymous)'} ${where(frame.url, frame.lineNumber)}`.trim()
      : '?';
    times.set(key, (times.get(key) ?? 0) + ms);
    total += ms;
  });
  return { total, rows: [...times].sort((a, b) => b[1] - a[1]) };
}

export async function runProfile(): Promise<void> {
  const dir = resolve(process.env.BENCH_PROFILE_DIR ?? join(REPO, 'tmp', 'bench-profile'));
  await rm(dir, { recursive: true, force: true });
  process.env.BENCH_PROFILE_DIR = dir; // read by startServer
  const temp = await tempRoot('profile');
  let servers: BenchServer[] = [];
  try {
    servers = await startCluster(temp.path);
    console.log(
      `profiling 3 servers (--cpu-prof) under ${SECONDS} s of 4 KiB HTTP PUT, 16 clients, 2 copies`,
    );
    const result = await load({
      kind: 'http-put',
      target: `http://${servers[0]!.httpAddress}/files/`,
      prefix: 'profile/',
      seconds: SECONDS,
      key: credentials.key,
    });
    console.log(`${Math.round(result.opsPerSecond)} creates/s, ${result.errors} errors\n`);
  } finally {
    await Promise.all(servers.map((s) => s.shutdown()));
    await temp.remove();
    delete process.env.BENCH_PROFILE_DIR;
  }
  for (const id of [1, 2, 3]) {
    const sub = join(dir, `server-${id}`);
    const files = (await readdir(sub).catch(() => [])).filter((f) => f.endsWith('.cpuprofile'));
    for (const file of files) {
      const profile = JSON.parse(await readFile(join(sub, file), 'utf8')) as CpuProfile;
      const { total, rows } = selfTimes(profile);
      const wall = (profile.endTime - profile.startTime) / 1000;
      console.log(
        `server ${id}${id === 1 ? ' (takes the HTTP PUTs, primary)' : ''}: ${join(sub, file)}\n` +
          `  ${(total / 1000).toFixed(1)} s sampled over ${(wall / 1000).toFixed(1)} s; top ${TOP} by self time:`,
      );
      for (const [name, ms] of rows.slice(0, TOP))
        console.log(
          `  ${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}`,
        );
      console.log('');
    }
  }
}
