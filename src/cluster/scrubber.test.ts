/**
 * The scrub's rate limiter, checked by its accounting on a fake clock (no timing):
 * what it let through never runs ahead of the rate by more than its burst.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteRateLimiter, type Clock } from './scrubber.ts';

function fakeClock(): Clock & { at: number } {
  const clock = {
    at: 0,
    now: () => clock.at,
    sleep: (ms: number) => {
      clock.at += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

test('the scrub reads at most its rate: 50 MB at 10 MB/s takes about 5 s of sleeping', async () => {
  const clock = fakeClock();
  const limiter = new ByteRateLimiter(10_000_000, clock);
  for (let i = 0; i < 50; i++) {
    await limiter.take(1_000_000);
    clock.at += 1; // hashing a chunk costs a little time too
    // At every point, what was let through fits the rate since the start plus one burst.
    assert.ok(limiter.bytes <= (clock.at + 100) * 10_000 + 1_000_000, `at ${clock.at} ms`);
  }
  assert.equal(limiter.bytes, 50_000_000);
  assert.ok(clock.at >= 4850 && clock.at <= 5100, `took ${clock.at} ms`);
  assert.ok(limiter.sleptMs >= 4800, `slept ${limiter.sleptMs} ms`);
});

test('a limiter that is idle for a while does not save up more than its burst', async () => {
  const clock = fakeClock();
  const limiter = new ByteRateLimiter(1_000_000, clock);
  clock.at = 60_000; // a minute with nothing to read
  await limiter.take(1_000_000);
  await limiter.take(1_000_000);
  // Two MB at 1 MB/s: about 2 s, less the 100 ms burst, not free because of the idle minute.
  assert.ok(clock.at - 60_000 >= 1800, `took ${clock.at - 60_000} ms`);
});
