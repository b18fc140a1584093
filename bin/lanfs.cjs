#!/usr/bin/env node
// The lanfs command. Runs the compiled code in dist/ (built by `npm install`
// through the prepare script, or `npm run build`).
//
// CommonJS on purpose: it runs before anything uses libuv's thread pool, which
// does lanfs's file I/O; the default of 4 threads makes 16 clients queue behind
// each other's fsyncs, and the size can only be set before the pool starts.
'use strict';
process.env.UV_THREADPOOL_SIZE ??= '16';

import('../dist/cli/main.js').then(
  async ({ main }) => {
    const code = await main(process.argv.slice(2));
    process.exitCode = code;
    // Let stdout drain (a download to "-" can be large) before leaving.
    if (process.stdout.writableLength === 0) process.exit(code);
    else process.stdout.once('drain', () => process.exit(code));
  },
  (err) => {
    console.error(
      `lanfs: cannot start (${err.message}); run "npm install" (or "npm run build") in the lanfs folder first.`,
    );
    process.exit(1);
  },
);
