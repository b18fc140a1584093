import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BadXmlError,
  dav,
  multistatus,
  parseLockInfo,
  parseProppatch,
  parsePropfind,
  parseXml,
  propElement,
} from './dav-xml.ts';

test('dav xml - propfind bodies: prop with namespaces, allprop, propname, empty', () => {
  const body = parseXml(
    '<?xml version="1.0"?><propfind xmlns="DAV:" xmlns:x="http://e/"><prop><getetag/><x:color/></prop></propfind>',
  );
  assert.deepEqual(parsePropfind(body), {
    kind: 'prop',
    props: [
      { ns: 'DAV:', name: 'getetag' },
      { ns: 'http://e/', name: 'color' },
    ],
  });
  assert.deepEqual(
    parsePropfind(parseXml('<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')),
    {
      kind: 'allprop',
    },
  );
  assert.deepEqual(
    parsePropfind(parseXml('<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>')),
    { kind: 'propname' },
  );
  assert.deepEqual(parsePropfind(undefined), { kind: 'allprop' });
});

test('dav xml - not XML, DOCTYPE / entities, undeclared or undeclared-to-nothing prefixes are refused', () => {
  for (const bad of [
    'not xml',
    '<a><b></a>',
    '<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><D:propfind xmlns:D="DAV:">&b;</D:propfind>',
    '<x:propfind xmlns:D="DAV:"/>',
    '<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>',
  ])
    assert.throws(() => parseXml(bad), BadXmlError, bad);
  assert.throws(() => parsePropfind(parseXml('<D:lockinfo xmlns:D="DAV:"/>')), BadXmlError);
});

test('dav xml - lockinfo and propertyupdate', () => {
  const info = parseLockInfo(
    parseXml(
      '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>me</D:href></D:owner></D:lockinfo>',
    ),
  );
  assert.equal(info.scope, 'shared');
  assert.equal(info.owner?.children[0]?.text, 'me');
  const changes = parseProppatch(
    parseXml(
      '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:a>1 &amp; 2</Z:a></D:prop></D:set><D:remove><D:prop><Z:b/></D:prop></D:remove></D:propertyupdate>',
    ),
  );
  assert.equal(changes[0]!.op, 'set');
  assert.equal(changes[0]!.op === 'set' && changes[0]!.value.text, '1 & 2');
  assert.deepEqual(changes[1], { op: 'remove', prop: { ns: 'urn:z', name: 'b' } });
});

test('dav xml - multistatus: escaped text, propstats per status, foreign namespaces declared', () => {
  const xml = multistatus([
    {
      href: '/dav/a%20%26%20b',
      propstats: [
        { status: 200, props: [dav('displayname', 'a & <b>')] },
        { status: 404, props: [propElement({ ns: 'http://e/', name: 'color' })] },
      ],
    },
    { href: '/dav/c', status: 423 },
  ]);
  assert.match(xml, /^<\?xml version="1.0" encoding="utf-8"\?>\n<D:multistatus xmlns:D="DAV:">/);
  assert.match(xml, /<D:displayname>a &amp; &lt;b&gt;<\/D:displayname>/);
  assert.match(xml, /<P:color xmlns:P="http:\/\/e\/"\/>/);
  assert.match(xml, /<D:status>HTTP\/1.1 404 Not Found<\/D:status>/);
  assert.match(xml, /<D:href>\/dav\/c<\/D:href><D:status>HTTP\/1.1 423 Locked<\/D:status>/);
  // What we build parses back.
  assert.equal(parseXml(xml).name, 'multistatus');
});
