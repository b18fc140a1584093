import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLogLine, logFormatFrom } from './logger.ts';

test('logger - a pino line reads as one line: time, level, message, then its fields', () => {
  const line = JSON.stringify({
    level: 30,
    time: '2026-11-29T12:04:05.123Z',
    component: 'mesh',
    peer: 2,
    address: '127.0.0.1:7071',
    msg: 'peer connected',
  });
  assert.equal(
    formatLogLine(line),
    '12:04:05 INFO  peer connected component=mesh peer=2 address=127.0.0.1:7071\n',
  );
  const warn = formatLogLine(
    JSON.stringify({ level: 40, time: '2026-11-29T12:04:06.000Z', reason: 'no route', msg: 'x' }),
  );
  assert.equal(warn, '12:04:06 WARN  x reason="no route"\n');
  assert.equal(formatLogLine('not json'), 'not json\n');
});

test('logger - an error shows its message, and at error level its stack below', () => {
  const line = JSON.stringify({
    level: 50,
    time: '2026-11-29T12:04:05.000Z',
    err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' },
    msg: 'failed',
  });
  assert.equal(formatLogLine(line), '12:04:05 ERROR failed error=boom\n    at f (x.ts:1:1)\n');
});

test('logger - the format: pretty on a terminal, json elsewhere, as asked otherwise', () => {
  assert.equal(logFormatFrom(undefined, true), 'pretty');
  assert.equal(logFormatFrom(undefined, false), 'json');
  assert.equal(logFormatFrom('json', true), 'json');
  assert.throws(() => logFormatFrom('xml', false), /--log-format must be json or pretty/);
});
