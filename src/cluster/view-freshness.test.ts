import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRESHNESS_WAIT_MS, STALL_MS, ViewFreshness } from './view-freshness.ts';

/** A clock the test moves, and peers heard (or not) since a time. */
function rig(heardAt: () => number | undefined, anyMember?: () => boolean) {
  let now = 1_000_000;
  const freshness = new ViewFreshness({
    now: () => now,
    anyMember,
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

test('view freshness - unsure after start until every peer is heard, then current until a stall', async (t) => {
  let heard: number | undefined;
  const r = rig(() => heard);
  r.freshness.start();
  t.after(() => r.freshness.stop());
  assert.equal(r.freshness.unsure, true, 'just started, no peer heard');
  r.advance(200);
  heard = r.now;
  assert.equal(r.freshness.unsure, false, 'every peer heard since the start');
  heard = undefined;
  assert.equal(
    r.freshness.unsure,
    false,
    'a peer lost after the view caught up is a failure, not a stale view (failover waited 2.8 s)',
  );
  assert.equal(await r.freshness.settled(), true);
});

test('view freshness - unsure after start while a known peer is unheard, and never past the bound', async (t) => {
  const r = rig(() => undefined);
  r.freshness.start();
  t.after(() => r.freshness.stop());
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

test('view freshness - no member known yet is not caught up: the first peer heard of must be heard', (t) => {
  let heard: number | undefined = 2_000_000;
  let members = 0;
  const r = rig(
    () => heard,
    () => members > 0,
  );
  t.after(() => r.freshness.stop());
  assert.equal(r.freshness.unsure, false, 'alone: nothing to wait for');
  members = 1;
  heard = undefined;
  assert.equal(r.freshness.unsure, true, 'a peer appeared and is not heard yet');
  heard = r.now + 1;
  assert.equal(r.freshness.unsure, false);
  heard = undefined;
  assert.equal(r.freshness.unsure, false, 'caught up once, current until a stall');
});

test('view freshness - caught up on the timer too: a peer lost before any request asked leaves it current', async (t) => {
  let heard: number | undefined;
  const r = rig(() => heard);
  r.freshness.start();
  t.after(() => r.freshness.stop());
  r.advance(50);
  heard = r.now;
  // No request asks in between: only the timer sees the peer heard.
  await new Promise((resolve) => setTimeout(resolve, 250));
  heard = undefined;
  assert.equal(r.freshness.unsure, false, 'the failover bench: 2.8 s held up by a dead peer');
});
