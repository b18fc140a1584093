import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KERNEL_DROPS_REPEAT_MS, KernelDrops, udpSendDrops } from './kernel-drops.ts';

/** /proc/net/snmp's Udp lines as read in a host left out of the 50-namespace cluster. */
const snmp = (sndbufErrors: number): string =>
  'Ip: Forwarding DefaultTTL\nIp: 2 64\n' +
  'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n' +
  `Udp: 38 0 0 0 0 ${sndbufErrors} 0 0 0\n` +
  'UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n' +
  'UdpLite: 0 0 0 0 0 0 0 0 0\n';

test('kernel drops - Udp SndbufErrors is read by its name', () => {
  assert.equal(udpSendDrops(snmp(38)), 38);
  assert.equal(udpSendDrops('Ip: Forwarding\nIp: 2\n'), undefined, 'no Udp lines');
  assert.equal(udpSendDrops('Udp: InDatagrams\nUdp: 5\n'), undefined, 'no such counter');
});

test('kernel drops - a growing counter is reported at once, then at most once a repeat interval', () => {
  const drops = new KernelDrops();
  assert.equal(drops.read(undefined, 0), undefined, 'no /proc/net/snmp: nothing');
  assert.equal(drops.read(5, 0), undefined, 'the first reading is the baseline');
  assert.equal(drops.read(5, 10_000), undefined, 'no growth: nothing');
  const first = drops.read(15, 20_000);
  assert.equal(first?.dropped, 10);
  assert.match(first?.msg ?? '', /neighbour \(ARP\) table/);
  assert.equal(drops.read(25, 30_000), undefined, 'within the repeat interval: counted');
  assert.equal(drops.read(26, 20_000 + KERNEL_DROPS_REPEAT_MS)?.dropped, 11, 'then reported');
  assert.equal(drops.read(26, 200_000), undefined);
  assert.equal(drops.read(3, 210_000), undefined, 'a smaller counter is a new baseline');
  assert.equal(drops.read(4, 220_000)?.dropped, 1);
});
