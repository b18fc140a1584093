import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newInstanceId, ServerDiscovery } from './discovery.ts';
import { parseGroup } from './multicast-beacon.ts';

/**
 * A server whose announcements cannot be sent says so (it used to swallow the
 * error: no route to the group, ENETUNREACH, or a local firewall, EPERM, left it
 * unheard and silent). The send failure a test can cause without a namespace of
 * its own: a datagram over 64 KiB (EMSGSIZE), by an announced host name far too long.
 */
test('discovery - a server whose announcements cannot be sent logs it', async (t) => {
  const logged: { level: string; fields: object; msg: string }[] = [];
  const logger = {
    warn: (fields: object, msg: string) => logged.push({ level: 'warn', fields, msg }),
    info: (fields: object, msg: string) => logged.push({ level: 'info', fields, msg }),
  };
  const discovery = new ServerDiscovery({
    group: parseGroup(
      `239.255.${1 + (process.pid % 250)}.77:${20000 + Math.floor(Math.random() * 40000)}`,
    ),
    interfaceAddress: '127.0.0.1',
    cluster: 'lanfs',
    key: 'k',
    serverId: 1,
    instance: newInstanceId(),
    host: 'h'.repeat(70_000),
    port: 7070,
    startedAt: performance.now(),
    announceIntervalMs: 50,
    logger,
  });
  t.after(() => discovery.stop());
  await discovery.start();
  for (let i = 0; i < 100 && logged.length === 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(logged[0]!.level, 'warn');
  assert.match(logged[0]!.msg, /cannot send discovery datagrams \(EMSGSIZE\)/);
  // More failed announcements within the repeat interval are counted, not logged.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(logged.length, 1);
});
