/**
 * A client whose server died before answering an edit sends it again, with the same
 * request id, to the server that took over. If the edit had been applied, and another
 * edit came on top meanwhile, the replay must be told "applied as version N", not
 * "changed while you edited it": the 10-minute torture run saw an edit refused that
 * had in fact made a version, which its reader then met.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LanfsServer } from '../../src/server/server.ts';
import { startInProcess } from '../harness/in-process.ts';
import { tempDir } from '../harness/tmp-dir.ts';

async function write(server: LanfsServer, text: string, baseVersion?: number, requestId?: string) {
  const bytes = Buffer.from(text);
  const size = bytes.length;
  const handle =
    baseVersion === undefined
      ? await server.files.beginCreate({ name: 'doc.txt', size })
      : await server.files.beginEdit({ name: 'doc.txt', size, baseVersion, requestId });
  await handle.write(bytes);
  return await handle.finish({ size });
}

test('edit replay - an edit sent again after later edits is answered with the version it made', async (t) => {
  const server = await startInProcess(t, { dataDir: await tempDir(t), id: 1, key: 'replay-key' });
  await write(server, 'one\n');
  const mine = await write(server, 'two\n', 1, 'edit-request-1');
  assert.equal(mine.version, 2);
  await write(server, 'three\n', 2, 'someone-else');
  // The same request again (its first answer lost with its server): version 2, not a conflict.
  const replayed = await write(server, 'two\n', 1, 'edit-request-1');
  assert.equal(replayed.version, 2);
  assert.equal(replayed.sha256, mine.sha256);
  assert.equal(server.catalog.get('doc.txt')?.version, 3, 'nothing was written again');
  // A different request from the same base version still conflicts.
  await assert.rejects(write(server, 'late\n', 1, 'edit-request-2'), {
    code: 'LANFS_ERR_EDIT_CONFLICT',
  });
  // The file deleted and made anew since: the edit is in the trash, applied all the same.
  await server.files.delete('doc.txt');
  await write(server, 'a new file\n');
  const fromTrash = await write(server, 'two\n', 1, 'edit-request-1');
  assert.equal(fromTrash.sha256, mine.sha256);
  assert.equal(fromTrash.fileId, mine.fileId);
  assert.notEqual(server.catalog.get('doc.txt')?.fileId, mine.fileId);
});
