import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRESHNESS_WAIT_MS, STALL_MS, ViewFreshness } from './view-freshness.ts';

/** A clock the test moves, and peers heard (or not) since a time. */
function rig(heardAt: () => number | undefined) {
  let now = 1_000_000;
  const freshness = new ViewFreshness({
    now: () => now,
    peersHeardSince: (since) => {
      const at = heardAt();
      return at !== undefined && at > since;
    },
  });
  return {
    freshness,
    advance(ms: number) {
      now += ms;
    },
    get now() {
      return now;
    },
  };
}

test('view freshness - unsure after start until every peer is heard, and never past the bound', async (t) => {
  let heard: number | undefined;
  const r = rig(() => heard);
  r.freshness.start();
  t.after(() => r.freshness.stop());
  assert.equal(r.freshness.unsure, true, 'just started, no peer heard');
  r.advance(200);
  heard = r.now;
  assert.equal(r.freshness.unsure, false, 'every peer heard since the start');
  heard = undefined;
  assert.equal(r.freshness.unsure, true);
  // Time passes with the loop turning (steps shorter than a stall, each seen by a tick).
  for (let waited = 0; waited < FRESHNESS_WAIT_MS; waited += STALL_MS / 2) {
    r.advance(STALL_MS / 2);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  assert.equal(r.freshness.stalls, 0);
  assert.equal(r.freshness.unsure, false, 'a peer that never answers holds nothing up for long');
});

test('view freshness - a stall is unsure at once (before any timer runs), until peers are heard after it', async (t) => {
  let heard: number | undefined;
  const r = rig(() => heard);
  r.advance(10);
  heard = r.now;
  assert.equal(r.freshness.unsure, false);
  // The loop stood still (SIGSTOP): a request handled on waking sees it before the tick.
  r.advance(STALL_MS + 500);
  assert.equal(r.freshness.unsure, true, 'waking up from a stall');
  // A peer's message queued from before the stall does not count once the tick ran.
  r.freshness.start();
  t.after(() => r.freshness.stop());
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(r.freshness.stalls, 1);
  assert.equal(r.freshness.unsure, true, 'nothing heard since the stall');
  r.advance(5);
  heard = r.now;
  assert.equal(r.freshness.unsure, false, 'a peer heard after the stall');
});

test('view freshness - settled() resolves once peers are heard', async (t) => {
  let heard: number | undefined = undefined;
  const r = rig(() => heard);
  let done = false;
  const settled = r.freshness.settled().then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(done, false, 'still waiting for the peers');
  r.advance(1);
  heard = r.now;
  await settled;
  assert.equal(done, true);
  t.diagnostic('settled once the peers were heard');
});
