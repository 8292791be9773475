import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT, ensureBerthBuilt } from './berth-bin.js';
import { startRegistry, stopRegistry } from './registry-server.js';

/**
 * Integration tests need a Docker engine, the fixture image, the compiled CLI and a private
 * registry (test/helpers/registry-server.ts); prepare them once per run. The returned function
 * stops the registry when the run ends.
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync('bash', [path.join(ROOT, 'scripts', 'ensure-docker.sh')], { stdio: 'inherit' });
  ensureBerthBuilt();
  const registry = await startRegistry();
  project.provide('berthRegistry', registry);
  return () => stopRegistry(registry);
}
