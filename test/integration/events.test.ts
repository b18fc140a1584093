/**
 * Events, pushed: two servers; `/api/events` (read like `curl -N` with the key in
 * the header) and `lanfs watch --json` on server 2 both report a create made
 * through server 1, as soon as it happens. The delay is printed, not asserted
 * (a loaded machine must not fail the test).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { lanfsEventSchema, type LanfsEvent } from '../../src/events/event-stream.ts';
import { cleanEnv, LANFS_BIN, runCli, type ServerProcess } from '../harness/cli.ts';
import { startCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait-for.ts';

const KEY = 'events-test-key';
const auth = { Authorization: `Bearer ${KEY}` };

interface SseEvent {
  type: string;
  data: string;
  receivedAt: number;
}

/** Reads a text/event-stream body, handing each event to onEvent as it arrives. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: SseEvent) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) onEvent({ type, data: data.join('\n'), receivedAt: Date.now() });
    }
  }
}

test('events - /api/events and lanfs watch on server 2 report a create made through server 1', async (t) => {
  const { servers } = await startCluster(t, 2, { key: KEY, args: ['--http-port', '0'] });
  const [one, two] = servers as [ServerProcess, ServerProcess];

  // Without the key: 401, and the key is never taken from the URL.
  const refused = await fetch(`http://127.0.0.1:${two.httpPort}/api/events?key=${KEY}`);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();

  // The feed, as curl -N -H "Authorization: Bearer KEY" reads it.
  const feed = new AbortController();
  t.after(() => feed.abort());
  const res = await fetch(`http://127.0.0.1:${two.httpPort}/api/events`, {
    headers: auth,
    signal: feed.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const sse: SseEvent[] = [];
  void readEvents(res.body!, (e) => sse.push(e)).catch(() => undefined);
  await waitFor(
    'the snapshot first',
    () => sse,
    (s) => s.length > 0,
  );
  assert.equal(sse[0]!.type, 'snapshot');
  const snapshot = JSON.parse(sse[0]!.data) as { status: unknown; files: unknown[] };
  assert.ok(snapshot.status);
  assert.deepEqual(snapshot.files, []);

  // lanfs watch --json on server 2, until it says it is watching.
  const watch = spawn(process.execPath, [LANFS_BIN, 'watch', '--json', '--server', two.address], {
    env: cleanEnv({ LANFS_KEY: KEY }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const watchExited = new Promise<number | null>((resolve) => watch.once('close', resolve));
  t.after(() => {
    if (watch.exitCode === null) watch.kill('SIGKILL');
  });
  let watchOut = '';
  let watchErr = '';
  watch.stdout.on('data', (c: Buffer) => (watchOut += c.toString()));
  watch.stderr.on('data', (c: Buffer) => (watchErr += c.toString()));
  await waitFor(
    'lanfs watch to start watching',
    () => watchErr,
    (e) => /Watching the cluster through server 2/.test(e),
  );

  const createdAt = Date.now();
  const made = await runCli(['create', 'notes/todo.txt', '--server', one.address], {
    env: { LANFS_KEY: KEY },
    input: 'buy milk\n',
  });
  assert.equal(made.code, 0, made.stderr);
  const answeredAt = Date.now();

  const isCreate = (e: SseEvent): boolean => {
    if (e.type !== 'record-changed') return false;
    const event = lanfsEventSchema.parse(JSON.parse(e.data));
    return event.type === 'record-changed' && event.name === 'notes/todo.txt';
  };
  const first = await waitFor(
    'the record-changed event on /api/events of server 2',
    () => sse.find(isCreate),
    (found) => found !== undefined,
  );
  const arrived = lanfsEventSchema.parse(JSON.parse(first!.data));
  assert.ok(arrived && arrived.type === 'record-changed');
  assert.equal(arrived.change, 'created');
  assert.equal(arrived.serverId, 2, 'reported by the server the feed is on');
  assert.equal(arrived.record?.primary, 1);
  assert.equal(arrived.record?.version, 1);
  console.log(
    `/api/events on server 2: record-changed arrived ${first!.receivedAt - createdAt} ms after the create began, ${first!.receivedAt - answeredAt} ms after the CLI returned (that includes its exit)`,
  );

  const lines = await waitFor(
    'lanfs watch --json to print the create',
    () =>
      watchOut
        .split('\n')
        .filter(Boolean)
        .map((line) => lanfsEventSchema.parse(JSON.parse(line))),
    (events: LanfsEvent[]) =>
      events.some((e) => e.type === 'record-changed' && e.name === 'notes/todo.txt'),
  );
  const line = lines.find((e) => e.type === 'record-changed' && e.name === 'notes/todo.txt');
  assert.equal(line?.type === 'record-changed' && line.change, 'created');

  // Ctrl-C ends watch with exit 0.
  watch.kill('SIGINT');
  assert.equal(await watchExited, 0, watchErr);
});
