import assert from 'node:assert/strict';
import { test } from 'node:test';
import { md5Hex, multipartEtag, quoteEtag, unquoteEtag } from './etag.ts';

test('etag - an object is the MD5 hex of its bytes', () => {
  assert.equal(md5Hex(''), 'd41d8cd98f00b204e9800998ecf8427e');
  assert.equal(md5Hex(Buffer.from('hello')), '5d41402abc4b2a76b9719d911017c592');
});

test('etag - a multipart object is the MD5 of the binary part MD5s, dash, part count', () => {
  const parts = [Buffer.alloc(5 * 1024 * 1024, 'a'), Buffer.from('tail')];
  const md5s = parts.map((p) => md5Hex(p));
  const expected = md5Hex(Buffer.concat(md5s.map((m) => Buffer.from(m, 'hex')))) + '-2';
  assert.equal(multipartEtag(md5s), expected);
  // Not the MD5 of the hex strings, and not the MD5 of the whole object.
  assert.notEqual(multipartEtag(md5s), md5Hex(md5s.join('')) + '-2');
  assert.notEqual(multipartEtag(md5s).split('-')[0], md5Hex(Buffer.concat(parts)));
  // A known value: one part of "hello".
  assert.equal(
    multipartEtag(['5d41402abc4b2a76b9719d911017c592']),
    `${md5Hex(Buffer.from('5d41402abc4b2a76b9719d911017c592', 'hex'))}-1`,
  );
});

test('etag - quoting is idempotent and unquoting accepts both forms', () => {
  assert.equal(quoteEtag('abc'), '"abc"');
  assert.equal(quoteEtag('"abc"'), '"abc"');
  assert.equal(unquoteEtag(' "abc-2" '), 'abc-2');
  assert.equal(unquoteEtag('abc'), 'abc');
});
