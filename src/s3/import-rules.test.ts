/**
 * The lint rule of eslint.config.js for src/s3: it may import protocol/, shared/
 * and only the types of service/; only web/ and server/ may import it. The code is
 * linted as if it were a file of that folder, so nothing is written into src/.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES = new Set(['no-restricted-imports', '@typescript-eslint/no-restricted-imports']);

async function importErrors(code: string, filePath: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfig: {
      languageOptions: { parserOptions: { project: null, projectService: false } },
    },
    ruleFilter: ({ ruleId }) => RULES.has(ruleId),
  });
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${filePath}` });
  return result!.messages.map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const use = (name: string): string => `\nexport const used: unknown = ${name};\n`;

test('s3 import rules - s3/ sees protocol/ and the types of service/, nothing else', async () => {
  const file = 'src/s3/request.ts';
  assert.deepEqual(
    await importErrors(
      "import { validateName } from '../protocol/file-name.ts';" + use('validateName'),
      file,
    ),
    [],
  );
  assert.deepEqual(
    await importErrors(
      "import type { FileService } from '../service/file-service.ts';\nexport type T = FileService;\n",
      file,
    ),
    [],
  );
  for (const line of [
    "import { FileService } from '../service/file-service.ts';",
    "import { ClusterView } from '../cluster/cluster-view.ts';",
    "import { createWebServer } from '../web/http-server.ts';",
  ]) {
    const errors = await importErrors(line + use(/\{ (\w+) \}/.exec(line)![1]!), file);
    assert.equal(errors.length, 1, `${line}: ${JSON.stringify(errors)}`);
  }
});

test('s3 import rules - only web/ and server/ import s3/', async () => {
  const line = "import { parseS3Request } from '../s3/index.ts';" + use('parseS3Request');
  assert.deepEqual(await importErrors(line, 'src/web/http-server.ts'), []);
  assert.deepEqual(await importErrors(line, 'src/server/server.ts'), []);
  for (const file of ['src/service/file-service.ts', 'src/cli/main.ts', 'src/protocol/frame.ts']) {
    assert.equal((await importErrors(line, file)).length, 1, file);
  }
});
