import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, ensureBerthBuilt } from './berth-bin.js';

/**
 * Integration tests need a Docker engine, the fixture image and the compiled CLI; prepare them
 * once per run.
 */
export function setup(): void {
  execFileSync('bash', [path.join(ROOT, 'scripts', 'ensure-docker.sh')], { stdio: 'inherit' });
  ensureBerthBuilt();
}
