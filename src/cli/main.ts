#!/usr/bin/env node
import { runCli } from './program.js';

// stdout and stderr are synchronous on Linux (files, pipes, TTYs), so exiting right away
// loses no output, and a handle left open by a library cannot keep the CLI hanging.
const code = await runCli(process.argv.slice(2));
process.exit(code);
