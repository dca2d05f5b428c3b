#!/usr/bin/env node
// npm links this file as the `carebridge` command; Node 24 runs the TypeScript sources directly.
import { main } from '../src/cli.ts';

// `carebridge map plan.json | head` closes stdout early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') {
    process.exit(process.exitCode ?? 0);
  }
  throw err;
});
process.exitCode = await main(process.argv.slice(2));
