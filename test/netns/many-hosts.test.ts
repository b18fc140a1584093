/**
 * Forty hosts (network namespaces on one bridge) that all reach each other: the
 * full mesh a 40-server cluster needs. The kernel keeps one ARP table for all
 * its namespaces, 1,024 learned entries in all; 40 hosts × 39 neighbours filled
 * it, and the hosts that came last could send nothing (the 50-server scale bench
 * stopped at 32–33 members). The harness now gives every host the others' link
 * addresses up front. One small node process per host sends a datagram to every
 * other host until each has answered; no lanfs server runs here, so this stays
 * cheap enough for npm test.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { test } from 'node:test';
import { onCleanup } from '../harness/cleanup.ts';
import { makeHosts } from '../harness/netns.ts';

const HOSTS = 40;
const PORT = 7071;
/** How long the hosts may take to reach each other before the test says which did not. */
const REACH_TIMEOUT_MS = 30_000;

/**
 * Runs in each host: says hello to every other host every 200 ms until it answers,
 * answers every hello, prints "done" once it has heard and been answered by all,
 * and on stdin's end prints what it heard and how many sends failed.
 */
const PEER_SCRIPT = `
const dgram = require('node:dgram');
const [me, port, ...others] = process.argv.slice(1);
const heard = new Set(), answered = new Set();
let sendErrors = 0, lastError = '', done = false;
const socket = dgram.createSocket('udp4');
const send = (text, to) => socket.send(text + ' ' + me, Number(port), to, (err) => {
  if (err) { sendErrors++; lastError = err.code; }
});
socket.on('message', (bytes, from) => {
  const [kind] = bytes.toString().split(' ');
  if (kind === 'hello') { heard.add(from.address); send('answer', from.address); }
  if (kind === 'answer') answered.add(from.address);
  if (!done && heard.size === others.length && answered.size === others.length) {
    done = true;
    process.stdout.write('done\\n');
  }
});
socket.bind(Number(port), me, () => {
  const hello = () => { for (const to of others) if (!answered.has(to)) send('hello', to); };
  hello();
  const timer = setInterval(hello, 200);
  process.stdin.resume();
  process.stdin.on('end', () => {
    clearInterval(timer);
    process.stdout.write(JSON.stringify({ heard: heard.size, answered: answered.size, sendErrors, lastError }) + '\\n');
    socket.close();
  });
});
`;

test(
  'many hosts - 40 hosts on one bridge all reach each other',
  { timeout: 120_000 },
  async (t) => {
    const hosts = await makeHosts(t, HOSTS);
    const peers: { child: ChildProcessWithoutNullStreams; out: string }[] = [];
    for (const host of hosts) {
      const others = hosts.filter((h) => h !== host).map((h) => h.address);
      const child = spawn('ip', [
        ...['netns', 'exec', host.netns, process.execPath, '-e', PEER_SCRIPT],
        ...[host.address, String(PORT), ...others],
      ]);
      const peer = { child, out: '' };
      child.stdout.on('data', (c: Buffer) => (peer.out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (peer.out += c.toString()));
      onCleanup(t, () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      peers.push(peer);
    }
    const deadline = Date.now() + REACH_TIMEOUT_MS;
    while (Date.now() < deadline && !peers.every((p) => p.out.includes('done')))
      await new Promise((resolve) => setTimeout(resolve, 200));
    // Every peer reports what it heard, done or not.
    await Promise.all(
      peers.map(
        (p) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 10_000);
            p.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            p.child.stdin.end();
          }),
      ),
    );
    const short = peers
      .map((p, i) => ({ host: i + 1, out: p.out.trim().split('\n') }))
      .filter((p) => !p.out.includes('done'))
      .map((p) => ({ host: p.host, report: p.out.at(-1) ?? '' }));
    assert.deepEqual(
      short,
      [],
      `hosts that did not reach and hear all ${HOSTS - 1} others (heard, answered by, failed sends)`,
    );
  },
);
