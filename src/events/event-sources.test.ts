import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FileRecord } from '../protocol/messages.ts';
import { attachEventSources, type HolderLike, type ViewSource } from './event-sources.ts';
import { EventStream, type LanfsEvent } from './event-stream.ts';

/** A cluster view in memory: records per server, members up or down. */
class FakeView implements ViewSource {
  readonly held = new Map<number, Map<string, FileRecord>>();
  readonly up = new Map<number, boolean>();
  readonly #names: ((name: string) => void)[] = [];
  readonly #members: ((id: number, up: boolean) => void)[] = [];

  onNameChange(listener: (name: string) => void): void {
    this.#names.push(listener);
  }
  onMemberChange(listener: (id: number, up: boolean) => void): void {
    this.#members.push(listener);
  }
  member(id: number): { address: string; records: ReadonlyMap<string, unknown> } | undefined {
    return { address: `127.0.0.1:${7000 + id}`, records: this.held.get(id) ?? new Map() };
  }
  newestHolders(name: string): HolderLike[] {
    const holders: HolderLike[] = [];
    for (const [id, records] of this.held) {
      const record = records.get(name);
      if (record) holders.push({ id, up: this.up.get(id) ?? true, record });
    }
    const newest = Math.max(...holders.map((h) => h.record.version));
    return holders.filter((h) => h.record.version === newest);
  }
  served(name: string): { newest: HolderLike[]; acting: number | undefined } {
    const newest = this.newestHolders(name);
    return { newest, acting: this.actingPrimary(name) };
  }

  actingPrimary(name: string): number | undefined {
    return this.newestHolders(name).find((h) => h.up)?.record.primary;
  }
  list(): FileRecord[] {
    const names = new Set<string>();
    for (const records of this.held.values()) for (const name of records.keys()) names.add(name);
    return [...names].map((name) => this.newestHolders(name)[0]!.record);
  }
  put(id: number, record: FileRecord): void {
    if (!this.held.has(id)) this.held.set(id, new Map());
    this.held.get(id)!.set(record.name, record);
    for (const listener of this.#names) listener(record.name);
  }
  remove(id: number, name: string): void {
    this.held.get(id)?.delete(name);
    for (const listener of this.#names) listener(name);
  }
  setUp(id: number, up: boolean): void {
    this.up.set(id, up);
    for (const listener of this.#members) listener(id, up);
  }
}

function record(name: string, version = 1, more: Partial<FileRecord> = {}): FileRecord {
  return {
    name,
    fileId: '0123456789abcdef',
    size: 3,
    sha256: 'a'.repeat(64),
    version,
    primary: 1,
    replicas: [2],
    modifiedAt: 1,
    ...more,
  };
}

const turn = async (): Promise<void> => await new Promise((r) => setImmediate(r));

function setup(view: FakeView): { events: LanfsEvent[]; detach: () => void } {
  const stream = new EventStream({ serverId: 2 });
  const events: LanfsEvent[] = [];
  stream.subscribe((e) => void events.push(e));
  const detach = attachEventSources(stream, { replicas: 2, view, now: () => 42 });
  return { events, detach };
}

function summary(events: LanfsEvent[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case 'record-changed':
        return `${e.change} ${e.name}`;
      case 'copy-made':
        return `copy ${e.name} on ${e.on}`;
      case 'copy-missing':
        return `missing ${e.name} [${e.holders.join()}]`;
      case 'member-up':
      case 'member-down':
        return `${e.type} ${e.memberId}`;
      case 'conflict':
        return `conflict ${e.name} of ${e.conflictOf}`;
      default:
        return e.type;
    }
  });
}

test('event sources - a create seen as a delta, then its copy here: created once, one copy made', async () => {
  const view = new FakeView();
  const { events } = setup(view);
  view.put(1, record('notes/todo.txt'));
  view.put(1, record('notes/todo.txt')); // the same delta twice in one turn: looked at once
  await turn();
  view.put(2, record('notes/todo.txt'));
  await turn();
  assert.deepEqual(summary(events), [
    'created notes/todo.txt',
    'copied notes/todo.txt',
    'copy notes/todo.txt on 2',
  ]);
  const created = events[0]!;
  assert.equal(created.type === 'record-changed' && created.record?.version, 1);
  assert.equal(created.serverId, 2);
  assert.equal(created.at, 42);
});

test('event sources - edit, delete, and a name that appears as a conflict loser', async () => {
  const view = new FakeView();
  view.put(1, record('a.txt'));
  view.put(2, record('a.txt'));
  const { events } = setup(view);
  view.put(1, record('a.txt', 2));
  await turn();
  view.remove(1, 'a.txt');
  view.remove(2, 'a.txt');
  await turn();
  view.put(2, record('b.conflict-01234567.txt', 1, { conflictOf: 'b.txt', fileId: 'ffffffff' }));
  await turn();
  assert.deepEqual(summary(events), [
    'edited a.txt',
    'deleted a.txt',
    'moved b.conflict-01234567.txt',
    'conflict b.conflict-01234567.txt of b.txt',
  ]);
});

test('event sources - a member going down is reported, with the files it leaves below their copies', async () => {
  const view = new FakeView();
  view.put(1, record('a.txt'));
  view.put(2, record('a.txt'));
  view.put(2, record('only-here.txt', 1, { primary: 2, replicas: [] }));
  const { events, detach } = setup(view);
  view.setUp(1, false);
  await turn();
  view.setUp(1, true);
  await turn();
  assert.deepEqual(summary(events), ['member-down 1', 'missing a.txt [2]', 'member-up 1']);
  detach();
  view.setUp(1, false);
  await turn();
  assert.equal(events.length, 3, 'nothing after detach');
});

test('event sources - a catalog alone (no view) reports its own creates and deletes', async () => {
  const records = new Map<string, FileRecord>();
  let changed: (name: string) => void = () => undefined;
  const catalog = {
    onChange: (listener: (name: string) => void) => (changed = listener),
    get: (name: string) => records.get(name),
    list: () => [...records.values()],
  };
  const stream = new EventStream({ serverId: 1 });
  const events: LanfsEvent[] = [];
  stream.subscribe((e) => void events.push(e));
  attachEventSources(stream, { replicas: 1, catalog });
  records.set('x', record('x'));
  changed('x');
  await turn();
  records.delete('x');
  changed('x');
  await turn();
  assert.deepEqual(summary(events), ['created x', 'deleted x']);
});
