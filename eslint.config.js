// Lint with type information: the rules that matter most for socket code are
// no-floating-promises and no-misused-promises (a lost promise in a handler).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The S3 front end's wiring: the modules of src/s3 that run operations on the file service. */
const S3_WIRING = [
  'src/s3/s3-handler.ts',
  'src/s3/s3-multipart.ts',
  'src/s3/s3-body.ts',
  'src/s3/s3-answer.ts',
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'lanfs-data/', 'bin/', 'tmp/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/return-await': ['error', 'always'],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'error',
      'max-depth': ['error', 4],
    },
  },
  {
    // Only the command line talks to the terminal.
    files: ['src/cli/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  // protocol/ is pure: bytes in, messages out; no sockets, no files.
  ...layerRules(),
  {
    // The S3 protocol core stays pure; only the front end's wiring (S3_WIRING) reaches
    // the file service, the cluster view, http/ and the multipart store at run time.
    files: ['src/s3/**'],
    ignores: S3_WIRING,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(service|cluster|storage)/',
              allowTypeImports: true,
              message:
                'src/s3/ may import only types from service/, cluster/ and storage/ (the wiring in s3-handler.ts and its modules does the rest).',
            },
            {
              regex: '^(\\.\\./)+http/',
              message: 'Only the wiring of src/s3 (s3-handler.ts and its modules) uses http/.',
            },
          ],
        },
      ],
    },
  },
);

/**
 * Which folders of src/ each folder may import (besides itself). Imports point one
 * way, from the front ends down to shared/:
 *
 *   shared ← protocol ← transport ← discovery
 *   protocol ← storage ← cluster (also transport, discovery) ← service ← {server, web}
 *   protocol ← events ← {service, server, web, client, cli}
 *   service ← http ← {web, webdav, s3}: the pieces every HTTP front end shares
 *   transport, discovery ← client ← cli;  server composes everything; cli starts servers.
 *
 * storage/ never touches sockets (not even transport/), cluster/ and web/ never use
 * the client library (servers talk to each other through cluster/peer-link.ts), and
 * web/ reaches files only through service/. docs/ARCHITECTURE.md shows the same graph.
 */
function layerRules() {
  const allowed = {
    shared: [],
    protocol: ['shared'],
    transport: ['protocol', 'shared'],
    discovery: ['transport', 'protocol', 'shared'],
    storage: ['protocol', 'shared'],
    events: ['protocol', 'shared'],
    cluster: ['storage', 'discovery', 'transport', 'protocol', 'shared'],
    service: ['cluster', 'storage', 'discovery', 'transport', 'protocol', 'shared', 'events'],
    // HTTP pieces every HTTP front end shares: file answers (Range, ETag), relayed downloads.
    http: ['service', 'protocol', 'shared'],
    web: [
      'http',
      'webdav',
      's3',
      'service',
      'cluster',
      'transport',
      'protocol',
      'shared',
      'events',
    ],
    // WebDAV under /dav/: reached only from web/ (and server/).
    webdav: ['http', 'service', 'cluster', 'transport', 'protocol', 'shared', 'events'],
    // S3 (src/s3), reached only from web/ and server/: a pure protocol core that sees
    // service/ through its types only (the block after layerRules() says so), and the
    // wiring (S3_WIRING) that runs operations on the file service.
    s3: ['http', 'service', 'cluster', 'storage', 'protocol', 'shared'],
    server: [
      'http',
      'web',
      'webdav',
      's3',
      'service',
      'cluster',
      'storage',
      'discovery',
      'transport',
      'protocol',
      'shared',
      'events',
    ],
    client: ['discovery', 'transport', 'protocol', 'shared', 'events'],
    cli: [
      'client',
      'server',
      'cluster',
      'storage',
      'discovery',
      'transport',
      'protocol',
      'shared',
      'events',
    ],
  };
  const folders = Object.keys(allowed);
  return folders.map((folder) => {
    const forbidden = folders.filter((f) => f !== folder && !allowed[folder].includes(f));
    const message = `src/${folder}/ may import only ${allowed[folder].join(', ') || 'nothing of src/'} (see the graph in eslint.config.js).`;
    return {
      files: [`src/${folder}/**`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            paths:
              folder === 'protocol'
                ? ['node:net', 'node:dgram', 'node:fs', 'node:fs/promises']
                : [],
            patterns: [{ regex: `^(\\.\\./)+(${forbidden.join('|')})/`, message }],
          },
        ],
      },
    };
  });
}
