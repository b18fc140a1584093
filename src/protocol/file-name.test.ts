import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { InvalidNameError } from '../shared/errors.ts';
import { validateName } from './file-name.ts';

test('names - valid names pass and come back in NFC', () => {
  for (const name of [
    'a',
    'notes/todo.txt',
    'deep/er/still/file',
    'spaces are fine.md',
    'ünïcödé/日本.txt',
    'x'.repeat(255),
    '.hidden',
    'a/.lanfs',
  ]) {
    assert.equal(validateName(name), name);
  }
  assert.equal(validateName('cafe\u0301'), 'caf\u00e9', 'two spellings of é are one name');
});

test('names - SPEC §4 refusals, each with a reason', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['/etc/passwd', /starts with \//],
    ['../../etc/passwd', /"\.\."/],
    ['a/../../b', /"\.\."/],
    ['a//b', /empty part/],
    ['a/./b', /"\."/],
    ['trailing/', /empty part/],
    ['a\\..\\b', /backslash/],
    ['.lanfs/state.db', /reserved/],
    ['.lanfs', /reserved/],
    ['nul\u0000byte', /control/],
    ['tab\there', /control/],
    ['del\u007f', /control/],
    ['x'.repeat(256), /longer than 255/],
    [`${'abcdefgh/'.repeat(114)}x`, /longer than 1024 bytes/],
    ['lone \ud800 surrogate', /UTF-8/],
  ];
  for (const [name, reason] of bad) {
    assert.throws(
      () => validateName(name),
      (err: InvalidNameError) => err instanceof InvalidNameError && reason.test(err.message),
      JSON.stringify(name),
    );
  }
});

test('names - any string is either accepted as a safe relative path or refused with InvalidNameError', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (input) => {
      let name: string;
      try {
        name = validateName(input);
      } catch (err) {
        assert.ok(err instanceof InvalidNameError);
        return;
      }
      const segments = name.split('/');
      assert.ok(!name.startsWith('/'));
      assert.ok(segments.every((s) => s !== '' && s !== '.' && s !== '..'));
      assert.notEqual(segments[0], '.lanfs');
    }),
  );
});
