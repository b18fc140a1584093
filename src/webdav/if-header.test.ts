import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateIf, IfHeaderSyntaxError, parseIfHeader, submittedTokens } from './if-header.ts';

const T = 'opaquelocktoken:0b3d7a2e-1111-4222-8333-444455556666';

test('If header - untagged lists with tokens, ETags and Not', () => {
  const lists = parseIfHeader(`(<${T}> ["abc"]) (Not <DAV:no-lock> ["abc"])`);
  assert.deepEqual(lists, [
    {
      resource: undefined,
      conditions: [
        { not: false, kind: 'token', value: T },
        { not: false, kind: 'etag', value: '"abc"' },
      ],
    },
    {
      resource: undefined,
      conditions: [
        { not: true, kind: 'token', value: 'DAV:no-lock' },
        { not: false, kind: 'etag', value: '"abc"' },
      ],
    },
  ]);
  assert.deepEqual([...submittedTokens(lists)], [T]);
});

test('If header - tagged lists keep their resource', () => {
  const lists = parseIfHeader(`<http://h/dav/a> (<${T}>) <http://h/dav/b/> (["x"]) (NOT <urn:y>)`);
  assert.deepEqual(
    lists.map((l) => l.resource),
    ['http://h/dav/a', 'http://h/dav/b/', 'http://h/dav/b/'],
  );
  assert.equal(lists[2]!.conditions[0]!.not, true);
});

test('If header - bad syntax is refused', () => {
  for (const bad of [
    '',
    '<http://h/a>',
    '(<a>',
    '()',
    '(foo)',
    '(<a>) <http://h/b> (<c>)',
    `(<${T}> ["abc"]) (Not <DAV:no-lock> ["abc`, // cut short, as neon cuts long headers
  ])
    assert.throws(() => parseIfHeader(bad), IfHeaderSyntaxError, bad);
});

test('If header - evaluation: any list, all conditions, Not, tagged resources', () => {
  const states = {
    a: { etag: '"e1"', lockTokens: new Set([T]) },
    b: { etag: '"e2"', lockTokens: new Set<string>() },
  };
  const stateOf = (tag: string | undefined) =>
    tag === undefined || tag.endsWith('/a') ? states.a : states.b;
  const holds = (header: string) => evaluateIf(parseIfHeader(header), stateOf);
  assert.equal(holds(`(<${T}>)`), true);
  assert.equal(holds(`(<${T}> ["e1"])`), true);
  assert.equal(holds(`(<${T}> ["bogus"])`), false);
  assert.equal(holds('(<DAV:no-lock>)'), false);
  assert.equal(holds(`(<${T}x>) (Not <DAV:no-lock>)`), true);
  assert.equal(holds(`(Not <${T}>)`), false);
  assert.equal(holds('(W/"e1")'.replace('W/"e1"', '[W/"e1"]')), true);
  assert.equal(holds(`<http://h/dav/b> (<${T}>)`), false);
  assert.equal(holds(`<http://h/dav/b> (["e2"])`), true);
});
