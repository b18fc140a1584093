/**
 * The import direction of eslint.config.js is enforced: a file of web/ or cluster/
 * that imports the client library, or storage/ that imports transport/, fails lint
 * with no-restricted-imports; an allowed import passes. The text is linted as if it
 * were an existing file of that folder (ESLint.lintText with filePath), so nothing
 * is written into src/.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Every message ESLint gives for code as if it were the file at filePath, as
 * "rule: message" ("parse: …" for a fatal one, such as a file ESLint ignored), so
 * that a failure says why.
 */
async function lintMessages(code: string, filePath: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: ROOT,
    // The import rules need no type information: leave TypeScript's program out, and
    // with it the type-aware rules (slow here, and not what this test is about).
    overrideConfig: {
      languageOptions: { parserOptions: { project: null, projectService: false } },
    },
    ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
  });
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${filePath}` });
  return result!.messages.map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

async function restrictedImports(code: string, filePath: string): Promise<string[]> {
  const messages = await lintMessages(code, filePath);
  return messages.filter((m) => m.startsWith('no-restricted-imports:') || m.startsWith('parse:'));
}

test('lint - imports against the layer graph fail no-restricted-imports', async () => {
  const forbidden: [string, string][] = [
    ['src/web/http-server.ts', "import { LanfsClient } from '../client/client.ts';"],
    ['src/cluster/replicator.ts', "import { Redirect } from '../client/server-connection.ts';"],
    ['src/storage/local-catalog.ts', "import { Connection } from '../transport/connection.ts';"],
    ['src/protocol/frame.ts', "import { FileService } from '../service/file-service.ts';"],
    ['src/service/file-service.ts', "import { createWebServer } from '../web/http-server.ts';"],
    ['src/cli/commands/create.ts', "import { FileService } from '../../service/file-service.ts';"],
  ];
  for (const [file, line] of forbidden) {
    const messages = await lintMessages(
      `${line}\nexport const used = [${usedName(line)}];\n`,
      file,
    );
    assert.ok(
      messages.some((m) => m.startsWith('no-restricted-imports:')),
      `${file}: "${line}" should fail no-restricted-imports; got ${JSON.stringify(messages)}`,
    );
  }
});

test('lint - imports along the layer graph pass', async () => {
  const allowed: [string, string][] = [
    ['src/web/http-server.ts', "import { FileService } from '../service/file-service.ts';"],
    ['src/cluster/replicator.ts', "import { PeerLink } from './peer-link.ts';"],
    ['src/server/server.ts', "import { createWebServer } from '../web/http-server.ts';"],
  ];
  for (const [file, line] of allowed) {
    const messages = await restrictedImports(
      `${line}\nexport const used = [${usedName(line)}];\n`,
      file,
    );
    assert.deepEqual(messages, [], `${file}: "${line}" is allowed`);
  }
});

function usedName(line: string): string {
  return /import \{ (\w+) \}/.exec(line)![1]!;
}
