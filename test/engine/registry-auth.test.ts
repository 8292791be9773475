import { chmod, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  authConfigOf,
  baseImagesOf,
  credentialSteps,
  DOCKER_HUB_SERVER,
  isAuthFailure,
  normalizeRegistry,
  parseDockerConfig,
  parseHelperAnswer,
  parseImageRef,
  serverAddress,
} from '../../src/engine/registry-auth.js';
import {
  createRegistryCredentials,
  dockerConfigFile,
} from '../../src/engine/registry-credentials.js';

const basic = (user: string, pass: string): string =>
  Buffer.from(`${user}:${pass}`).toString('base64');

describe('the registry of an image reference, as Docker derives it', () => {
  it.each([
    ['busybox', 'docker.io', 'docker.io/library/busybox', undefined],
    ['busybox:1.36', 'docker.io', 'docker.io/library/busybox', '1.36'],
    ['library/busybox:latest', 'docker.io', 'docker.io/library/busybox', 'latest'],
    ['acme/app:v2', 'docker.io', 'docker.io/acme/app', 'v2'],
    ['berth-fixture/busybox:latest', 'docker.io', 'docker.io/berth-fixture/busybox', 'latest'],
    ['docker.io/acme/app', 'docker.io', 'docker.io/acme/app', undefined],
    ['index.docker.io/acme/app', 'docker.io', 'docker.io/acme/app', undefined],
    ['localhost/app', 'localhost', 'localhost/app', undefined],
    ['localhost:5000/team/app:1', 'localhost:5000', 'localhost:5000/team/app', '1'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000', '127.0.0.1:5000/x', undefined],
    ['127.0.0.1:5000/x:v1', '127.0.0.1:5000', '127.0.0.1:5000/x', 'v1'],
    ['registry.example.com/a/b/c:d', 'registry.example.com', 'registry.example.com/a/b/c', 'd'],
    ['Registry/app', 'Registry', 'Registry/app', undefined],
  ])('%s is on %s', (ref, registry, repository, tag) => {
    const name = parseImageRef(ref);
    expect(name.registry).toBe(registry);
    expect(name.repository).toBe(repository);
    expect(name.tag).toBe(tag);
    expect(name.digest).toBeUndefined();
  });

  it('keeps a digest apart from the name and the tag', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageRef(`ghcr.io/o/r:1@${digest}`)).toEqual({
      registry: 'ghcr.io',
      repository: 'ghcr.io/o/r',
      tag: '1',
      digest,
    });
    expect(parseImageRef(`busybox@${digest}`).repository).toBe('docker.io/library/busybox');
  });
});

describe('registry servers as people write them', () => {
  it.each([
    ['registry.example.com:5000', 'registry.example.com:5000'],
    ['https://registry.example.com:5000', 'registry.example.com:5000'],
    ['http://Registry.Example.com/v2/', 'registry.example.com'],
    ['https://ghcr.io', 'ghcr.io'],
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    [' 127.0.0.1:5000 ', '127.0.0.1:5000'],
  ])('%s is keyed %s', (server, key) => {
    expect(normalizeRegistry(server)).toBe(key);
  });

  it('gives Docker Hub the address Docker and the helpers know it by', () => {
    expect(serverAddress('docker.io')).toBe(DOCKER_HUB_SERVER);
    expect(serverAddress('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});

describe('a Docker config.json', () => {
  it('reads auths in every form, keyed by registry', () => {
    const config = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: basic('hubuser', 'hub:pass') },
          'registry.example.com:5000': { username: 'u', password: 'p' },
          'https://ghcr.io': { identitytoken: 'tok' },
          'empty.example.com': {},
        },
        credHelpers: { 'gcr.io': 'gcloud' },
        credsStore: 'desktop',
        experimental: 'enabled',
      }),
      '/x/config.json',
    );
    expect(config.auths.get('docker.io')).toMatchObject({
      username: 'hubuser',
      password: 'hub:pass',
    });
    expect(config.auths.get('registry.example.com:5000')).toMatchObject({
      username: 'u',
      password: 'p',
    });
    expect(config.auths.get('ghcr.io')).toMatchObject({ identityToken: 'tok' });
    expect(config.auths.has('empty.example.com')).toBe(false);
    expect(config.credHelpers.get('gcr.io')).toBe('gcloud');
    expect(config.credsStore).toBe('desktop');
  });

  it('refuses malformed JSON and odd helper names without showing a value', () => {
    expect(() => parseDockerConfig('{"auths": {"a": {"auth": "c2VjcmV0', '/c.json')).toThrow(
      '/c.json is not valid JSON',
    );
    const bad = () =>
      parseDockerConfig(
        JSON.stringify({ credsStore: '../../bin/evil', auths: { a: { auth: 's3cret' } } }),
        '/c.json',
      );
    expect(bad).toThrow(/credsStore/);
    expect(bad).not.toThrow(/s3cret|evil/);
  });

  it('takes a credential helper answer, identity tokens included', () => {
    expect(parseHelperAnswer('{"ServerURL":"x","Username":"u","Secret":"s"}', 'h')).toEqual({
      username: 'u',
      password: 's',
      source: 'h',
    });
    expect(parseHelperAnswer('{"Username":"<token>","Secret":"t"}', 'h')).toEqual({
      identityToken: 't',
      source: 'h',
    });
    expect(parseHelperAnswer('credentials not found in native keychain', 'h')).toBeUndefined();
  });
});

describe('the order credentials are looked for in', () => {
  const own = { username: 'berth', password: 'b', source: 'berth' };
  const stored = { username: 'docker', password: 'd', source: 'auths' };
  const config = parseDockerConfig(
    JSON.stringify({
      auths: { 'reg.example.com': { auth: basic('docker', 'd') } },
      credHelpers: { 'reg.example.com': 'special' },
      credsStore: 'store',
    }),
    'c.json',
  );

  it("berth's registries first, and nothing else then", () => {
    const steps = credentialSteps('reg.example.com', new Map([['reg.example.com', own]]), config);
    expect(steps).toEqual([{ kind: 'found', credential: own }]);
  });

  it('then credHelpers, credsStore, auths', () => {
    const steps = credentialSteps('reg.example.com', new Map(), config);
    expect(steps.map((s) => (s.kind === 'helper' ? s.helper : s.credential.username))).toEqual([
      'special',
      'store',
      stored.username,
    ]);
  });

  it('the store alone for a registry without a helper or an auths entry', () => {
    expect(credentialSteps('other.example.com', new Map(), config)).toEqual([
      { kind: 'helper', helper: 'store' },
    ]);
    expect(credentialSteps('other.example.com', new Map(), undefined)).toEqual([]);
  });

  it('becomes the auth config Docker takes', () => {
    expect(authConfigOf(own, 'docker.io')).toEqual({
      username: 'berth',
      password: 'b',
      serveraddress: DOCKER_HUB_SERVER,
    });
    expect(authConfigOf({ identityToken: 't', source: 's' }, 'ghcr.io')).toEqual({
      identitytoken: 't',
      serveraddress: 'ghcr.io',
    });
  });
});

describe('registry refusals', () => {
  it.each([
    ['unauthorized: authentication required', undefined, true],
    ['Head "http://127.0.0.1:5000/v2/x/manifests/v1": no basic auth credentials', 500, true],
    [
      'pull access denied for acme/app, repository does not exist or may require docker login',
      500,
      true,
    ],
    ['denied: requested access to the resource is denied', undefined, true],
    ['get https://registry/v2/: incorrect username or password', undefined, true],
    ['anything', 401, true],
    ['manifest unknown: manifest unknown', 404, false],
    ['dial tcp: lookup registry-1.docker.io: no such host', 500, false],
  ])('%s (%s) is an auth failure: %s', (message, status, expected) => {
    expect(isAuthFailure(message, status)).toBe(expected);
  });
});

describe('the base images of a Dockerfile', () => {
  it('reads FROM and COPY --from, with ARGs before the first FROM', () => {
    const dockerfile = [
      '# syntax=docker/dockerfile:1',
      'ARG NODE_IMAGE=node:20-bookworm-slim',
      'ARG REG',
      'ARG BASE="debian:12"',
      'FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build',
      'RUN echo hi \\',
      '  && echo there',
      'FROM build AS test',
      'FROM ${REG}/tools:1 AS tools',
      'FROM ${MISSING:-alpine:3} AS small',
      'FROM scratch',
      'COPY --from=build /app /app',
      'COPY --from=0 /x /x',
      'COPY --from=registry.example.com/assets:2 /y /y',
      'from $BASE',
    ].join('\n');
    expect(baseImagesOf(dockerfile, { REG: 'reg.example.com:5000' })).toEqual([
      'node:20-bookworm-slim',
      'reg.example.com:5000/tools:1',
      'alpine:3',
      'registry.example.com/assets:2',
      'debian:12',
    ]);
    expect(baseImagesOf(dockerfile, { NODE_IMAGE: 'mirror.example.com/node:20' })[0]).toBe(
      'mirror.example.com/node:20',
    );
  });

  it('leaves out references with a variable it cannot resolve', () => {
    expect(baseImagesOf('FROM ${REG}/tools:1\nFROM busybox', {})).toEqual(['busybox']);
  });
});

describe('credentials looked up on disk and through credential helpers', () => {
  let dir: string;
  let bin: string;
  let helperLog: string;
  let configFile: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-registry-auth-'));
    bin = path.join(dir, 'bin');
    helperLog = path.join(dir, 'helper.log');
    configFile = path.join(dir, 'docker', 'config.json');
    await mkdir(bin);
    await mkdir(path.dirname(configFile));
    // A real credential helper speaking the protocol: the server on stdin, JSON back.
    const helper = path.join(bin, 'docker-credential-berthtest');
    await writeFile(
      helper,
      [
        '#!/bin/sh',
        'read -r server',
        'echo "$1 $server" >> "$BERTH_HELPER_LOG"',
        'case "$server" in',
        '  helped.example.com) echo \'{"ServerURL":"helped.example.com","Username":"helper-user","Secret":"helper-pass"}\' ;;',
        '  https://index.docker.io/v1/) echo \'{"Username":"<token>","Secret":"hub-token"}\' ;;',
        '  *) echo "credentials not found in native keychain"; exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(helper, 0o755);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const env = (): Record<string, string> => ({
    PATH: `${bin}${path.delimiter}/usr/bin${path.delimiter}/bin`,
    BERTH_HELPER_LOG: helperLog,
  });
  const helperCalls = async (): Promise<string[]> =>
    (await readFile(helperLog, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  const writeConfig = (config: unknown): Promise<void> =>
    writeFile(configFile, JSON.stringify(config));

  it('finds config.json in $DOCKER_CONFIG, else in ~/.docker', () => {
    expect(dockerConfigFile({ DOCKER_CONFIG: '/etc/dc' })).toBe('/etc/dc/config.json');
    expect(dockerConfigFile({ HOME: '/home/b' })).toBe('/home/b/.docker/config.json');
    expect(dockerConfigFile({}, '/root')).toBe('/root/.docker/config.json');
  });

  it("uses berth's registries before the Docker config, without running a helper", async () => {
    await writeConfig({
      credsStore: 'berthtest',
      auths: { 'helped.example.com': { auth: basic('docker-user', 'docker-pass') } },
    });
    const credentials = createRegistryCredentials({
      logins: [{ server: 'https://helped.example.com/', username: 'own', password: 'own-pass' }],
      dockerConfig: configFile,
      env: env(),
    });
    const found = await credentials.forImage('helped.example.com/team/app:1');
    expect(found).toEqual({
      registry: 'helped.example.com',
      credential: { username: 'own', password: 'own-pass', source: "berth's config (registries)" },
    });
    expect(await helperCalls()).toEqual([]);
  });

  it('asks credHelpers[host] with the server on stdin, and reports what it hands out', async () => {
    await writeConfig({
      credHelpers: { 'helped.example.com': 'berthtest' },
      auths: { 'helped.example.com': { auth: basic('docker-user', 'docker-pass') } },
    });
    const secrets: string[] = [];
    const credentials = createRegistryCredentials({
      dockerConfig: configFile,
      env: env(),
      onSecret: (values) => secrets.push(...values),
    });
    const found = await credentials.forImage('helped.example.com/app');
    expect(found?.credential).toMatchObject({ username: 'helper-user', password: 'helper-pass' });
    expect(found?.credential.source).toContain('docker-credential-berthtest');
    expect(await helperCalls()).toEqual(['get helped.example.com']);
    expect(secrets).toContain('helper-pass');
    expect(secrets).toContain('docker-pass');
  });

  it('asks credsStore for Docker Hub by its v1 address; an identity token comes back', async () => {
    await writeConfig({ credsStore: 'berthtest' });
    const credentials = createRegistryCredentials({ dockerConfig: configFile, env: env() });
    const found = await credentials.forImage('acme/private:1');
    expect(found?.registry).toBe('docker.io');
    expect(found?.credential.identityToken).toBe('hub-token');
    expect(await helperCalls()).toEqual([`get ${DOCKER_HUB_SERVER}`]);
  });

  it('falls through a failing helper and an absent one to auths', async () => {
    await writeConfig({
      credHelpers: { 'plain.example.com:5000': 'notinstalled' },
      credsStore: 'berthtest',
      auths: { 'https://plain.example.com:5000': { auth: basic('docker-user', 'docker-pass') } },
    });
    const credentials = createRegistryCredentials({ dockerConfig: configFile, env: env() });
    const found = await credentials.forImage('plain.example.com:5000/app:2');
    expect(found?.credential).toMatchObject({ username: 'docker-user', password: 'docker-pass' });
    expect(found?.credential.source).toBe(`${configFile} (auths)`);
    expect(await helperCalls()).toEqual(['get plain.example.com:5000']);
    expect(await credentials.forImage('elsewhere.example.com/app')).toBeUndefined();
  });

  it('reads config.json once, and again when it changes', async () => {
    // Whole seconds: a time set again is then exactly the same.
    const first = new Date('2025-01-01T00:00:00Z');
    await writeConfig({ auths: { 'r.example.com': { auth: basic('first', 'aaaa') } } });
    await utimes(configFile, first, first);
    const credentials = createRegistryCredentials({ dockerConfig: configFile, env: env() });
    expect((await credentials.forImage('r.example.com/x'))?.credential.username).toBe('first');
    // Same size, same mtime: the file is not read again.
    await writeConfig({ auths: { 'r.example.com': { auth: basic('other', 'bbbb') } } });
    await utimes(configFile, first, first);
    expect((await credentials.forImage('r.example.com/x'))?.credential.username).toBe('first');
    // A new mtime: read again.
    const later = new Date('2025-01-01T00:00:05Z');
    await utimes(configFile, later, later);
    expect((await credentials.forImage('r.example.com/x'))?.credential.username).toBe('other');
  });

  it('goes anonymous when config.json is missing or malformed', async () => {
    const credentials = createRegistryCredentials({ dockerConfig: configFile, env: env() });
    expect(await credentials.forImage('r.example.com/x')).toBeUndefined();
    await writeFile(configFile, '{ not json');
    expect(await credentials.forImage('r.example.com/x')).toBeUndefined();
    expect(credentials.sources()).toContain(configFile);
  });
});
