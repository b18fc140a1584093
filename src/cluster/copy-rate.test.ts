import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CopyRate } from './copy-rate.ts';

test('copy rate - unknown without copies; bytes over time of the recent large ones', () => {
  const rate = new CopyRate();
  assert.equal(rate.bytesPerSecond(), undefined);
  rate.record(100, 10, 1000); // too small to say anything about throughput
  assert.equal(rate.bytesPerSecond(1000), undefined);
  rate.record(1_000_000, 500, 1000);
  rate.record(3_000_000, 1500, 2000);
  assert.equal(rate.bytesPerSecond(2000), 2_000_000);
  assert.equal(rate.bytesPerSecond(2000 + 16 * 60 * 1000), undefined, 'old copies forgotten');
});
