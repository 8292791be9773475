import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Integration tests need a Docker engine and the fixture image; prepare them once per run. */
export function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  execFileSync('bash', [path.join(root, 'scripts', 'ensure-docker.sh')], { stdio: 'inherit' });
}
