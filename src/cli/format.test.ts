import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BodyOf } from '../protocol/messages.ts';
import { formatRecords, formatStatus } from './format.ts';

const record = (name: string, primary: number, replicas: number[]) => ({
  name,
  fileId: '0123abcd',
  size: 1,
  sha256: '0'.repeat(64),
  version: 1,
  primary,
  replicas,
  modifiedAt: 0,
});

function status(overrides: Partial<BodyOf<'STATUS_RESULT'>>): BodyOf<'STATUS_RESULT'> {
  return {
    serverId: 1,
    insecure: false,
    replicas: 2,
    servers: [
      { id: 1, address: 'a:1', up: true, files: 3 },
      { id: 2, address: 'a:2', up: false, files: 3, downForMs: 40_000 },
      { id: 3, address: 'a:3', up: true, files: 0 },
    ],
    conflicts: [],
    underReplicated: ['z.txt', 'b.txt', 'm.txt'],
    healAfterMs: 180_000,
    ...overrides,
  };
}

test('format - show marks a holder that is down; the empty hint speaks the shell in the shell', () => {
  const text = formatRecords([record('a.txt', 1, [2])], { down: new Set([2]) });
  assert.match(text, /a\.txt .*server 1 {2}server 2 \(DOWN\)/);
  assert.match(formatRecords([]), /Add one with: lanfs create NAME --from PATH/);
  assert.match(formatRecords([], { inShell: true }), /Add one with: create NAME --from PATH/);
});

test('format - files below their copies are sorted and say when healing starts', () => {
  const text = formatStatus(status({}), 'a:1');
  assert.match(
    text,
    /Below 2 copies: 3 files \(server 2 is down: copies are made again elsewhere in 2 min 20 s .*\):\n {2}b\.txt\n {2}m\.txt\n {2}z\.txt/,
  );
  assert.doesNotMatch(text, /being made/);
  const late = status({
    servers: [
      { id: 1, address: 'a:1', up: true, files: 3 },
      { id: 2, address: 'a:2', up: false, files: 3, downForMs: 200_000 },
      { id: 3, address: 'a:3', up: true, files: 0 },
    ],
  });
  assert.match(
    formatStatus(late, 'a:1'),
    /down for longer than --heal-after \(3 min\): copies are being made elsewhere/,
  );
  const few = status({
    servers: [
      { id: 1, address: 'a:1', up: true, files: 3 },
      { id: 2, address: 'a:2', up: false, files: 3 },
    ],
  });
  assert.match(
    formatStatus(few, 'a:1'),
    /only 1 server is up: the copies are made when a server returns/,
  );
  const none = status({ servers: [{ id: 1, address: 'a:1', up: true, files: 3 }] });
  assert.match(formatStatus(none, 'a:1'), /\(their copies are being made\)/);
});
