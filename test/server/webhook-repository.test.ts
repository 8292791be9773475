import { describe, expect, it } from 'vitest';
import {
  matchRepository,
  pushedRepository,
  repositoryLocation,
  type FollowedRepository,
} from '../../src/server/webhook-repository.js';

describe('repositoryLocation', () => {
  it.each([
    ['https://github.com/acme/app.git', 'github.com/acme/app'],
    ['https://github.com/acme/app', 'github.com/acme/app'],
    ['https://github.com/acme/app/', 'github.com/acme/app'],
    ['https://github.com/acme/app.git/', 'github.com/acme/app'],
    ['HTTPS://GitHub.COM/Acme/App.GIT', 'github.com/acme/app'],
    ['http://git.example.com:3000/acme/app.git', 'git.example.com/acme/app'],
    ['https://x-access-token:s3cret@github.com/acme/app.git', 'github.com/acme/app'],
    ['https://alice@bitbucket.org/acme/app.git', 'bitbucket.org/acme/app'],
    ['git@github.com:acme/app.git', 'github.com/acme/app'],
    ['git@github.com:acme/app', 'github.com/acme/app'],
    ['github.com:acme/app.git', 'github.com/acme/app'],
    ['git@gitlab.example.com:/srv/repos/app.git', 'gitlab.example.com/srv/repos/app'],
    ['ssh://git@github.com/acme/app.git', 'github.com/acme/app'],
    ['ssh://git@github.com:22/acme/app.git', 'github.com/acme/app'],
    ['ssh://git@git.example.com:2222/acme/app', 'git.example.com/acme/app'],
    ['git+ssh://git@github.com/acme/app.git', 'github.com/acme/app'],
    ['git://github.com/acme/app.git', 'github.com/acme/app'],
    ['https://gitlab.com/group/sub/app.git', 'gitlab.com/group/sub/app'],
    ['https://github.com//acme//app.git', 'github.com/acme/app'],
    ['https://git.example.com/acme/my%20app.git', 'git.example.com/acme/my app'],
    ['https://[::1]:8080/acme/app.git', '[::1]/acme/app'],
    ['file:///srv/git/app.git', '/srv/git/app'],
    ['/srv/git/app.git', '/srv/git/app'],
    ['  https://github.com/acme/app.git  ', 'github.com/acme/app'],
  ])('%s → %s', (url, expected) => {
    expect(repositoryLocation(url)).toBe(expected);
  });

  it.each([
    'acme/app',
    'app',
    '',
    'https://github.com/',
    'https://github.com',
    'ftp://example.com/acme/app',
    'https://',
  ])('%j is no repository location', (text) => {
    expect(repositoryLocation(text)).toBeUndefined();
  });

  it('reads the ssh and https forms of one repository as the same place', () => {
    const forms = [
      'git@github.com:Acme/App.git',
      'ssh://git@github.com:22/acme/app',
      'https://github.com/acme/app/',
      'https://github.com/acme/app.git',
      'git://github.com/acme/app',
    ];
    expect(new Set(forms.map(repositoryLocation)).size).toBe(1);
  });
});

const GITHUB = {
  ref: 'refs/heads/main',
  after: 'c0ffee',
  repository: {
    id: 1,
    name: 'App',
    full_name: 'Acme/App',
    html_url: 'https://github.com/Acme/App',
    url: 'https://github.com/Acme/App',
    git_url: 'git://github.com/Acme/App.git',
    ssh_url: 'git@github.com:Acme/App.git',
    clone_url: 'https://github.com/Acme/App.git',
  },
};

const GITEA = {
  ref: 'refs/heads/main',
  after: 'c0ffee',
  repository: {
    id: 3,
    full_name: 'acme/app',
    html_url: 'https://gitea.example.com/acme/app',
    ssh_url: 'ssh://git@gitea.example.com:2222/acme/app.git',
    clone_url: 'https://gitea.example.com/acme/app.git',
    url: 'https://gitea.example.com/api/v1/repos/acme/app',
  },
};

const GITLAB = {
  object_kind: 'push',
  ref: 'refs/heads/main',
  checkout_sha: 'c0ffee',
  project: {
    id: 15,
    web_url: 'https://gitlab.example.com/platform/infra/deploys',
    git_ssh_url: 'git@gitlab.example.com:platform/infra/deploys.git',
    git_http_url: 'https://gitlab.example.com/platform/infra/deploys.git',
    path_with_namespace: 'platform/infra/deploys',
  },
  repository: {
    name: 'deploys',
    url: 'git@gitlab.example.com:platform/infra/deploys.git',
    homepage: 'https://gitlab.example.com/platform/infra/deploys',
    git_http_url: 'https://gitlab.example.com/platform/infra/deploys.git',
    git_ssh_url: 'git@gitlab.example.com:platform/infra/deploys.git',
  },
};

const BITBUCKET = {
  push: { changes: [] },
  repository: {
    type: 'repository',
    full_name: 'acme/app',
    name: 'app',
    links: {
      html: { href: 'https://bitbucket.org/acme/app' },
      clone: [
        { name: 'https', href: 'https://alice@bitbucket.org/acme/app.git' },
        { name: 'ssh', href: 'git@bitbucket.org:acme/app.git' },
      ],
    },
  },
};

describe('pushedRepository', () => {
  it('reads GitHub’s repository object', () => {
    const pushed = pushedRepository(GITHUB);
    expect(pushed).toEqual({
      locations: ['github.com/acme/app'],
      fullName: 'acme/app',
      label: 'github.com/acme/app',
    });
  });

  it('reads Gitea’s (and Forgejo’s) repository object, its API url included', () => {
    const pushed = pushedRepository(GITEA);
    expect(pushed?.locations).toContain('gitea.example.com/acme/app');
    expect(pushed?.fullName).toBe('acme/app');
  });

  it('reads GitLab’s project and legacy repository objects', () => {
    const pushed = pushedRepository(GITLAB);
    expect(pushed?.locations).toEqual(['gitlab.example.com/platform/infra/deploys']);
    expect(pushed?.fullName).toBe('platform/infra/deploys');
  });

  it('reads Bitbucket’s full name and links', () => {
    const pushed = pushedRepository(BITBUCKET);
    expect(pushed?.locations).toEqual(['bitbucket.org/acme/app']);
    expect(pushed?.fullName).toBe('acme/app');
    expect(pushed?.label).not.toContain('alice');
  });

  it('reads a generic repository string as a URL or a full name', () => {
    expect(pushedRepository({ repository: 'git@github.com:acme/app.git' })).toEqual({
      locations: ['github.com/acme/app'],
      label: 'github.com/acme/app',
    });
    expect(pushedRepository({ repository: 'Acme/App' })).toEqual({
      locations: [],
      fullName: 'acme/app',
      label: 'acme/app',
    });
  });

  it('reads a payload with only a full name', () => {
    expect(pushedRepository({ repository: { full_name: 'acme/app' } })).toEqual({
      locations: [],
      fullName: 'acme/app',
      label: 'acme/app',
    });
  });

  it.each([
    ['no repository key', { ref: 'refs/heads/main' }],
    ['a repository without URL or name', { repository: { id: 1 } }],
    ['a one-segment name', { repository: 'app' }],
    ['fields of the wrong type', { repository: { clone_url: 42, full_name: null } }],
    ['an array payload', [1, 2]],
    ['null', null],
  ])('names no repository with %s', (_what, payload) => {
    expect(pushedRepository(payload)).toBeUndefined();
  });

  it('keeps the label short', () => {
    const long = `https://example.com/${'a'.repeat(500)}/app.git`;
    expect(pushedRepository({ repository: long })?.label.length).toBe(200);
  });
});

describe('matchRepository', () => {
  const SOURCES: FollowedRepository[] = [
    { name: 'apps', url: 'git@github.com:acme/app.git' },
    { name: 'infra', url: 'https://gitlab.example.com/platform/infra/deploys.git' },
    { name: 'edge', url: 'https://gitea.example.com/acme/edge' },
    { name: 'local', url: 'file:///srv/git/local.git' },
  ];

  function match(payload: unknown, followed = SOURCES) {
    const pushed = pushedRepository(payload);
    if (pushed === undefined) throw new Error('no repository in the payload');
    return matchRepository(pushed, followed);
  }

  it('routes GitHub https payload fields to a source followed over ssh', () => {
    expect(match(GITHUB)).toEqual({ kind: 'matched', sources: ['apps'], by: 'url' });
  });

  it('routes a GitLab push to the source of its project', () => {
    expect(match(GITLAB)).toEqual({ kind: 'matched', sources: ['infra'], by: 'url' });
  });

  it('routes a push for a repository no source follows nowhere', () => {
    const other = { repository: { ...GITEA.repository, full_name: 'acme/other' } };
    other.repository.clone_url = 'https://gitea.example.com/acme/other.git';
    other.repository.html_url = 'https://gitea.example.com/acme/other';
    other.repository.ssh_url = 'ssh://git@gitea.example.com:2222/acme/other.git';
    other.repository.url = 'https://gitea.example.com/api/v1/repos/acme/other';
    expect(match(other)).toEqual({ kind: 'none' });
    expect(match(BITBUCKET, SOURCES.slice(1))).toEqual({ kind: 'none' });
  });

  it('routes a generic push naming a file:// repository', () => {
    expect(match({ repository: 'file:///srv/git/local' })).toEqual({
      kind: 'matched',
      sources: ['local'],
      by: 'url',
    });
  });

  it('routes to every source that follows the pushed repository', () => {
    const followed = [...SOURCES, { name: 'apps-staging', url: 'https://github.com/ACME/app' }];
    expect(match(GITHUB, followed)).toEqual({
      kind: 'matched',
      sources: ['apps', 'apps-staging'],
      by: 'url',
    });
  });

  it('falls back on the full name when no URL matches (a mirror, another host)', () => {
    expect(match(GITEA)).toEqual({ kind: 'matched', sources: ['apps'], by: 'name' });
    const followed = [{ name: 'mirror', url: 'https://git.internal/acme/app.git' }];
    expect(match(GITHUB, followed)).toEqual({ kind: 'matched', sources: ['mirror'], by: 'name' });
    expect(match({ repository: 'acme/app' }, followed).kind).toBe('matched');
  });

  it('matches a nested GitLab full name against the end of the path only', () => {
    const followed = [
      { name: 'right', url: 'https://mirror.example.com/platform/infra/deploys' },
      { name: 'wrong', url: 'https://mirror.example.com/other/infra/deploys' },
    ];
    const pushed = { locations: [], fullName: 'platform/infra/deploys', label: 'x' };
    expect(matchRepository(pushed, followed)).toEqual({
      kind: 'matched',
      sources: ['right'],
      by: 'name',
    });
  });

  it('refuses a full name that fits two repositories', () => {
    const followed = [
      { name: 'gh', url: 'https://github.com/acme/app' },
      { name: 'gl', url: 'git@gitlab.com:acme/app.git' },
    ];
    expect(match({ repository: 'acme/app' }, followed)).toEqual({
      kind: 'ambiguous',
      sources: ['gh', 'gl'],
    });
    // A URL says which one: no ambiguity.
    expect(match({ repository: 'https://gitlab.com/acme/app.git' }, followed)).toEqual({
      kind: 'matched',
      sources: ['gl'],
      by: 'url',
    });
  });

  it('matches one full name on two sources of the same repository', () => {
    const followed = [
      { name: 'a', url: 'https://github.com/acme/app' },
      { name: 'b', url: 'git@github.com:acme/app.git' },
    ];
    expect(match({ repository: 'acme/app' }, followed)).toEqual({
      kind: 'matched',
      sources: ['a', 'b'],
      by: 'name',
    });
  });

  it('never matches a source without a usable URL', () => {
    const followed = [{ name: 'odd', url: 'not a url' }];
    expect(match(GITHUB, followed)).toEqual({ kind: 'none' });
  });

  it('does not take a one-segment suffix for a name', () => {
    const followed = [{ name: 'a', url: 'https://github.com/someone/app' }];
    expect(match({ repository: { full_name: 'acme/app' } }, followed)).toEqual({ kind: 'none' });
  });
});
