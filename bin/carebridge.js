#!/usr/bin/env node
// npm links this file as the `carebridge` command; Node 24 runs the TypeScript sources directly.
import '../src/cli.ts';
