import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_SCHEDULE } from '../../src/config/schema.js';
import {
  scheduleOf,
  sourceViews,
  sourcesBySchedule,
  withoutCredentials,
} from '../../src/daemon/sources.js';
import { stackRecord } from '../server/fake-control.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-daemon-sources-'));
  mkdirSync(path.join(dir, 'local'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const file = path.join(dir, 'berth.yaml');
  writeFileSync(file, yaml);
  return loadConfig({ file, env: {}, cwd: dir });
}

const SOURCES = `
schedule: "*/10 * * * *"
sources:
  - name: apps
    git: { url: "https://github.com/acme/apps.git", branch: prod }
  - name: infra
    git: { url: "ssh://git@git.example.com:2222/platform/infra.git", tag: "v*" }
    schedule: "*/1 * * * *"
  - name: edge
    git: { url: "git@github.com:acme/edge.git" }
  - name: here
    path: ./local
    schedule: "*/1 * * * *"
`;

describe('the daemon’s sources', () => {
  it('groups the sources by schedule, the top-level one by default', async () => {
    const config = await load(SOURCES);
    expect([...sourcesBySchedule(config)]).toEqual([
      ['*/10 * * * *', ['apps', 'edge']],
      ['*/1 * * * *', ['infra', 'here']],
    ]);
  });

  it('falls back on the daemon’s schedule when the config names none', async () => {
    const config = await load('source: { git: { url: "https://github.com/acme/apps" } }\n');
    expect(scheduleOf(config.sources[0]!, config)).toBe(DEFAULT_SCHEDULE);
    expect([...sourcesBySchedule(config)]).toEqual([[DEFAULT_SCHEDULE, ['default']]]);
  });

  it('shows each source with its URL, ref, last sync and stack count', async () => {
    const config = await load(SOURCES);
    const views = sourceViews(
      config,
      [{ name: 'infra', at: '2026-01-01T00:00:00.000Z', ok: true, commit: 'c1', failures: 0 }],
      [
        stackRecord('web', { source: 'apps' }),
        stackRecord('api', { source: 'apps' }),
        stackRecord('dns', { source: 'infra' }),
      ],
    );
    expect(views).toEqual([
      {
        name: 'apps',
        kind: 'git',
        url: 'https://github.com/acme/apps.git',
        schedule: '*/10 * * * *',
        tracked: { branch: 'prod' },
        stacks: 2,
      },
      {
        name: 'infra',
        kind: 'git',
        url: 'ssh://git.example.com:2222/platform/infra.git',
        schedule: '*/1 * * * *',
        tracked: { tag: 'v*' },
        lastSync: { at: '2026-01-01T00:00:00.000Z', ok: true, commit: 'c1', failures: 0 },
        stacks: 1,
      },
      {
        name: 'edge',
        kind: 'git',
        url: 'git@github.com:acme/edge.git',
        schedule: '*/10 * * * *',
        tracked: { branch: 'main' },
        stacks: 0,
      },
      {
        name: 'here',
        kind: 'local',
        url: path.join(dir, 'local'),
        schedule: '*/1 * * * *',
        tracked: {},
        stacks: 0,
      },
    ]);
  });

  it('counts a stack recorded before sources existed as default’s', async () => {
    const config = await load('source: { git: { url: "https://github.com/acme/apps" } }\n');
    const [view] = sourceViews(config, [], [stackRecord('web'), stackRecord('db')]);
    expect(view).toMatchObject({ name: 'default', stacks: 2 });
  });

  it.each([
    [
      'https://x-access-token:ghp_secret@github.com/acme/apps.git',
      'https://github.com/acme/apps.git',
    ],
    ['https://alice@example.com/a.git', 'https://example.com/a.git'],
    ['ssh://git@example.com:22/a.git', 'ssh://example.com:22/a.git'],
    ['git@github.com:acme/apps.git', 'git@github.com:acme/apps.git'],
    ['file:///srv/git/a.git', 'file:///srv/git/a.git'],
  ])('shows %s as %s', (url, shown) => {
    expect(withoutCredentials(url)).toBe(shown);
  });
});
