import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEND_FAILURE_REPEAT_MS, SendFailures } from './send-failures.ts';

const unreachable = Object.assign(new Error('send ENETUNREACH 239.1.2.3:7654'), {
  code: 'ENETUNREACH',
});
const TO = '239.1.2.3:7654';

test('send failures - the first is reported at once, with its cause', () => {
  const failures = new SendFailures();
  assert.equal(failures.sent(null, TO, 0), undefined, 'a send that went out says nothing');
  const report = failures.sent(unreachable, TO, 1000);
  assert.equal(report?.level, 'warn');
  assert.equal(report?.failures, 1);
  assert.match(report?.msg ?? '', /cannot send discovery datagrams \(ENETUNREACH\)/);
  assert.match(report?.msg ?? '', /give --interface/, 'the cause, and what to do');
});

test('send failures - a run is reported again at most once a repeat interval, with its count', () => {
  const failures = new SendFailures();
  assert.equal(failures.sent(unreachable, TO, 0)?.failures, 1);
  for (let i = 1; i < 60; i++)
    assert.equal(
      failures.sent(unreachable, TO, i * 1000 - 1),
      undefined,
      `failure ${i + 1} is quiet`,
    );
  const again = failures.sent(unreachable, TO, SEND_FAILURE_REPEAT_MS);
  assert.equal(again?.level, 'warn');
  assert.equal(again?.failures, 60, 'the 59 quiet failures and this one');
  assert.match(again?.msg ?? '', /still cannot send/);
  const back = failures.sent(null, TO, SEND_FAILURE_REPEAT_MS + 1000);
  assert.equal(back?.level, 'info');
  assert.equal(back?.failures, 61, 'the whole run');
  assert.equal(failures.sent(null, TO, SEND_FAILURE_REPEAT_MS + 2000), undefined);
  assert.equal(
    failures.sent(unreachable, TO, SEND_FAILURE_REPEAT_MS + 3000)?.level,
    'warn',
    'a new run',
  );
});
