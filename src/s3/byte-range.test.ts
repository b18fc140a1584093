import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRangeHeader, resolveRange } from './byte-range.ts';
import { S3Error } from './s3-error.ts';

test('byte-range - the three forms of one range, resolved against the size', () => {
  const at = (header: string, size: number): { start: number; end: number } =>
    resolveRange(parseRangeHeader(header)!, size);
  assert.deepEqual(at('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(at('bytes=90-200', 100), { start: 90, end: 99 });
  assert.deepEqual(at('bytes=95-', 100), { start: 95, end: 99 });
  assert.deepEqual(at('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(at('bytes=-1000', 100), { start: 0, end: 99 });
});

test('byte-range - unparsable or multiple ranges are ignored, unsatisfiable ones are InvalidRange', () => {
  for (const header of [
    'bytes=5-1',
    'bytes=0-1,5-6',
    'items=0-1',
    'bytes=-',
    'bytes=a-b',
    undefined,
  ]) {
    assert.equal(parseRangeHeader(header), undefined, String(header));
  }
  for (const [header, size] of [
    ['bytes=100-', 100],
    ['bytes=-0', 100],
    ['bytes=-5', 0],
    ['bytes=0-0', 0],
  ] as const) {
    assert.throws(
      () => resolveRange(parseRangeHeader(header)!, size),
      (err: unknown) => err instanceof S3Error && err.code === 'InvalidRange' && err.status === 416,
    );
  }
});
