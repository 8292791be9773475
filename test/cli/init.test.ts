import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { deriveGlobs, findStackFolders } from '../../src/cli/init/stack-folders.js';
import { renderConfig, type InitConfig } from '../../src/cli/init/template.js';
import { isLoopback, providersFor, webhookHelp } from '../../src/cli/init/webhooks.js';
import { ConfigFile, crossCheck } from '../../src/config/index.js';

describe('deriveGlobs', () => {
  it('takes one <parent>/* per folder holding stacks', () => {
    expect(deriveGlobs(['stacks/a', 'stacks/b', 'stacks/c'])).toEqual(['stacks/*']);
    expect(deriveGlobs(['web', 'db'])).toEqual(['*']);
    expect(deriveGlobs(['apps/x', 'infra/monitoring/y', 'z'])).toEqual([
      '*',
      'apps/*',
      'infra/monitoring/*',
    ]);
  });

  it('leaves out the root and escapes glob syntax in folder names', () => {
    expect(deriveGlobs(['.'])).toEqual([]);
    expect(deriveGlobs(['.', 'stacks/a'])).toEqual(['stacks/*']);
    expect(deriveGlobs(['odd[1]/a', 'x*y/b'])).toEqual(['odd\\[1\\]/*', 'x\\*y/*']);
  });
});

describe('findStackFolders', () => {
  let root: string;
  const compose = 'services:\n  app:\n    image: berth-fixture/busybox:latest\n';

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'berth-init-find-'));
    const files = [
      'compose.yaml',
      'stacks/web/compose.yaml',
      'stacks/db/docker-compose.yml',
      'stacks/notes/README.md',
      'infra/monitoring/grafana/compose.yml',
      'node_modules/pkg/compose.yaml',
      '.git/compose.yaml',
      'data/running_stacks/web/compose.yaml',
      'a/b/c/d/e/f/compose.yaml',
    ];
    for (const file of files) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), compose);
    }
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds folders with a compose file, skipping .git, node_modules, ignored and deep ones', async () => {
    const folders = await findStackFolders(root, ['data']);
    expect(folders).toEqual(['.', 'infra/monitoring/grafana', 'stacks/db', 'stacks/web']);
    expect(deriveGlobs(folders)).toEqual(['infra/monitoring/*', 'stacks/*']);
  });
});

describe('webhooks', () => {
  it('picks the provider from the repository host, all three when unknown', () => {
    expect(providersFor('https://github.com/me/stacks.git')).toEqual(['github']);
    expect(providersFor('git@github.com:me/stacks.git')).toEqual(['github']);
    expect(providersFor('https://gitlab.example.org/ops/stacks.git')).toEqual(['gitlab']);
    expect(providersFor('ssh://git@codeberg.org/me/stacks.git')).toEqual(['gitea']);
    expect(providersFor('https://git.example.org/ops/stacks.git')).toEqual([
      'github',
      'gitlab',
      'gitea',
    ]);
    expect(providersFor('file:///srv/git/stacks.git')).toEqual(['github', 'gitlab', 'gitea']);
  });

  it('says where to point each provider, and when the listener is loopback only', () => {
    const local = webhookHelp(['github', 'gitlab', 'gitea'], '127.0.0.1:7070').join('\n');
    expect(local).toContain('http://<this host>:7070/webhooks/github');
    expect(local).toContain('http://<this host>:7070/webhooks/gitlab');
    expect(local).toContain('http://<this host>:7070/webhooks/gitea');
    expect(local).toContain('application/json');
    expect(local).toMatch(/push event/i);
    expect(local).toContain('only this host reaches it');

    const lan = webhookHelp(['github'], '192.168.1.5:9000').join('\n');
    expect(lan).toContain('http://192.168.1.5:9000/webhooks/github');
    expect(lan).not.toContain('only this host');
    expect(webhookHelp(['github'], '0.0.0.0:7070').join('\n')).toContain('<this host>:7070');
    expect(isLoopback('[::1]:7070')).toBe(true);
    expect(isLoopback('0.0.0.0:7070')).toBe(false);
  });
});

describe('renderConfig', () => {
  const base: InitConfig = {
    schema: '/opt/berth/schemas/berth.schema.json',
    source: { kind: 'git', url: 'https://github.com/me/stacks.git', branch: 'main' },
    paths: ['stacks/*', '*'],
    pathsNote: 'berth init found 2 stack folders: stacks/a, b.',
    dataDir: '/var/lib/berth',
    listen: '127.0.0.1:7070',
    webhooks: ['github'],
    secretFile: './berth-webhook.secret',
  };

  function parsed(text: string): unknown {
    const value: unknown = YAML.parse(text);
    const result = ConfigFile.safeParse(value);
    expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
    expect(crossCheck(value)).toEqual([]);
    return value;
  }

  it('writes a git source with the server and its webhook, commented, as valid config', () => {
    const text = renderConfig(base);
    expect(text.split('\n')[0]).toBe(
      '# yaml-language-server: $schema=/opt/berth/schemas/berth.schema.json',
    );
    expect(parsed(text)).toEqual({
      source: {
        git: { url: 'https://github.com/me/stacks.git', branch: 'main' },
        paths: ['stacks/*', '*'],
      },
      dataDir: '/var/lib/berth',
      schedule: '* * * * *',
      server: {
        listen: '127.0.0.1:7070',
        webhooks: { github: { secretFile: './berth-webhook.secret' } },
      },
    });
    // Each key the user is likely to change carries a comment right above it.
    for (const key of ['git:', 'paths:', 'dataDir:', 'schedule:', 'server:', 'listen:']) {
      const lines = text.split('\n');
      const at = lines.findIndex((l) => l.trim().startsWith(key));
      expect(lines[at - 1]?.trim().startsWith('#'), key).toBe(true);
    }
    expect(text).toContain('# berth init found 2 stack folders: stacks/a, b.');
  });

  it('writes a path source without a server, and no schema line when there is none', () => {
    const text = renderConfig({
      ...base,
      schema: undefined,
      source: { kind: 'path', path: '.' },
      webhooks: [],
      paths: ['*'],
    });
    expect(text).not.toContain('yaml-language-server');
    expect(parsed(text)).toEqual({
      source: { path: '.', paths: ['*'] },
      dataDir: '/var/lib/berth',
      schedule: '* * * * *',
    });
    expect(text).toContain('# server:');
  });

  it('quotes values YAML would read otherwise', () => {
    const text = renderConfig({
      ...base,
      source: { kind: 'git', url: 'git@host:me/stacks.git', branch: '#1: odd' },
      dataDir: 'yes # not a comment',
    });
    const value = YAML.parse(text) as { source: { git: { branch: string } }; dataDir: string };
    expect(value.source.git.branch).toBe('#1: odd');
    expect(value.dataDir).toBe('yes # not a comment');
  });
});
