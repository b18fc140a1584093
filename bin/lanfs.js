#!/usr/bin/env node
// The lanfs command. Runs the compiled code in dist/ (built by `npm install`
// through the prepare script, or `npm run build`).
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
// Let stdout drain (a download to "-" can be large) before leaving.
process.exitCode = code;
if (process.stdout.writableLength === 0) process.exit(code);
else process.stdout.once('drain', () => process.exit(code));
