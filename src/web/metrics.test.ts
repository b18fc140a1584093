/** The scrub counters of /metrics (issue 13), read from the scrubber at each scrape. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from './metrics.ts';

test('/metrics counts bytes scrubbed, damaged copies found and repaired', async () => {
  const totals = { bytes: 0, bad: 0, repaired: 0 };
  const metrics = new Metrics({
    files: () => 0,
    copiesMissing: () => 0,
    peersUp: () => 0,
    scrub: () => totals,
  });
  Object.assign(totals, { bytes: 4096, bad: 2, repaired: 1 });
  const text = await metrics.registry.metrics();
  assert.match(text, /^lanfs_scrub_bytes_total 4096$/m);
  assert.match(text, /^lanfs_scrub_bad_copies_total 2$/m);
  assert.match(text, /^lanfs_scrub_repaired_copies_total 1$/m);
});
