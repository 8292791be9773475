#!/usr/bin/env -S node --max-semi-space-size=2
// The flag keeps V8's young generation small: the daemon is mostly idle and a 2 MB semi-space
// costs it nothing measurable while saving ~20 MB of resident memory (bench:daemon).
import { runCli } from './program.js';

// stdout and stderr are synchronous on Linux (files, pipes, TTYs), so exiting right away
// loses no output, and a handle left open by a library cannot keep the CLI hanging.
const code = await runCli(process.argv.slice(2));
process.exit(code);
