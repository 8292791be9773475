import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_INPUT_FILE_BYTES } from '../../src/bounded-read.js';
import { loadProject, type LoadOptions } from '../../src/compose/load.js';
import { ComposeError } from '../../src/errors.js';

const roots: string[] = [];

afterEach(async () => {
  await Promise.all(roots.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * A repository-like tree: `stacks/web` is the stack loaded, `stacks/other` a neighbour and
 * `outside` a folder of the host. Returns the stack folder.
 */
async function tree(files: Record<string, string>): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'berth-confine-'));
  roots.push(root);
  const dir = join(root, 'stacks', 'web');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const path = join(root, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
  return { root, dir };
}

async function loadError(dir: string, options: LoadOptions = {}): Promise<ComposeError> {
  const err = await loadProject(dir, { env: {}, ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ComposeError);
  return err as ComposeError;
}

const WEB = 'services:\n  web:\n    image: busybox\n';

describe('compose loading confined to the stack folder', () => {
  it('refuses an absolute env_file, naming file, service, field and path', async () => {
    const { dir } = await tree({ 'stacks/web/compose.yaml': `${WEB}    env_file: /etc/passwd\n` });
    const err = await loadError(dir, { projectName: 'web' });
    const file = join(dir, 'compose.yaml');
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.message).toBe(
      `${file}: service "web": field "env_file[0]": path "/etc/passwd" is outside the stack folder ${dir}`,
    );
    expect(err.place).toEqual({ file, service: 'web', field: 'env_file[0]', stack: 'web' });
  });

  it.each([
    ['a neighbour stack', '../other/.env', '../other/.env'],
    ['an optional file', '[{ path: ../other/.env, required: false }]', '../other/.env'],
    ['a path climbing through the stack', './sub/../../other/.env', './sub/../../other/.env'],
  ])('refuses an env_file in %s', async (_what, value, given) => {
    const { root, dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    env_file: ${value}\n`,
      'stacks/other/.env': 'TOKEN=neighbour\n',
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.place).toMatchObject({ service: 'web', field: 'env_file[0]' });
    expect(err.message).toBe(
      `${join(dir, 'compose.yaml')}: service "web": field "env_file[0]": path "${given}" (${join(root, 'stacks/other/.env')}) is outside the stack folder ${dir}`,
    );
  });

  it('refuses an env_file that is a link out of the folder, naming where it resolves', async () => {
    const { root, dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    env_file: app.env\n`,
      'outside/app.env': 'TOKEN=host\n',
    });
    await symlink(join(root, 'outside/app.env'), join(dir, 'app.env'));
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.message).toContain(
      `field "env_file[0]": path "app.env" resolves to ${join(root, 'outside/app.env')}, outside the stack folder ${dir}`,
    );
  });

  it('refuses relative bind mount sources that leave, short and long form', async () => {
    const short = await tree({ 'stacks/web/compose.yaml': `${WEB}    volumes: ["../x:/x"]\n` });
    const err = await loadError(short.dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.message).toBe(
      `${join(short.dir, 'compose.yaml')}: service "web": field "volumes[0]": path "../x" (${join(short.root, 'stacks/x')}) is outside the stack folder ${short.dir}`,
    );
    const long = await tree({
      'stacks/web/compose.yaml': `${WEB}    volumes:\n      - ./ok:/ok\n      - type: bind\n        source: ../../outside\n        target: /o\n`,
    });
    const longErr = await loadError(long.dir);
    expect(longErr.place).toMatchObject({ service: 'web', field: 'volumes[1].source' });
    expect(longErr.message).toContain('path "../../outside"');
  });

  it('refuses a relative bind source through a link out of the folder', async () => {
    const { root, dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    volumes: ["./data:/data"]\n`,
      'outside/x': 'host file\n',
    });
    await symlink('../../outside', join(dir, 'data'));
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.message).toContain(`path "./data" resolves to ${join(root, 'outside')}, outside`);
  });

  it('leaves absolute and home bind sources to policy, and keeps sources inside', async () => {
    const { dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    volumes:\n      - /srv/data:/a\n      - ~/x:/b\n      - ./data:/c\n      - ./sub/../conf:/d\n      - type: bind\n        source: /var/log\n        target: /e\n`,
    });
    const { project } = await loadProject(dir, { env: { HOME: '/home/me' } });
    expect(project.services.web!.volumes.map((v) => v.source)).toEqual([
      '/srv/data',
      '/home/me/x',
      join(dir, 'data'),
      join(dir, 'conf'),
      '/var/log',
    ]);
  });

  it('refuses extends.file outside the folder', async () => {
    const { dir } = await tree({
      'stacks/web/compose.yaml':
        'services:\n  web:\n    extends:\n      file: ../common.yaml\n      service: base\n',
      'stacks/common.yaml': 'services:\n  base:\n    image: busybox\n',
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.place).toMatchObject({ service: 'web', field: 'extends.file' });
    expect(err.message).toContain('field "extends.file": path "../common.yaml" (');
  });

  it.each([
    ['include: [../other/compose.yaml]\n', 'include[0].path'],
    ['include:\n  - path: inc.yaml\n    project_directory: ..\n', 'include[0].project_directory'],
    ['include:\n  - path: inc.yaml\n    env_file: /etc/environment\n', 'include[0].env_file'],
  ])('refuses an include reaching out: %s', async (include, field) => {
    const { dir } = await tree({
      'stacks/web/compose.yaml': `${include}${WEB}`,
      'stacks/web/inc.yaml': 'services:\n  db:\n    image: busybox\n',
      'stacks/other/compose.yaml': 'services:\n  db:\n    image: busybox\n',
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.place).toMatchObject({ file: join(dir, 'compose.yaml'), field });
    expect(err.message).toContain(`field "${field}": path "`);
  });

  it.each([
    ['secrets', '/etc/shadow'],
    ['configs', '../other/app.conf'],
  ])('refuses a %s file outside the folder', async (section, path) => {
    const { dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}${section}:\n  s:\n    file: ${path}\n`,
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.place).toMatchObject({ field: `${section}.s.file` });
    expect(err.message).toContain(`field "${section}.s.file": path "${path}"`);
  });

  it.each([
    ['build: ../app', 'build.context'],
    ['build: { context: /srv/app }', 'build.context'],
    ['build: { context: ., dockerfile: ../../Dockerfile }', 'build.dockerfile'],
    ['build: { context: app, dockerfile: /etc/Dockerfile }', 'build.dockerfile'],
  ])('refuses a build leaving the folder: %s', async (build, field) => {
    const { dir } = await tree({ 'stacks/web/compose.yaml': `services:\n  web:\n    ${build}\n` });
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.place).toMatchObject({ service: 'web', field });
  });

  it('accepts builds inside the folder and git contexts', async () => {
    const { dir } = await tree({
      'stacks/web/compose.yaml':
        'services:\n  web:\n    build: { context: app, dockerfile: ../Dockerfile.web }\n  git:\n    build: https://github.com/docker/welcome.git\n',
    });
    const { project } = await loadProject(dir, { env: {} });
    expect(project.services.web!.build).toMatchObject({ context: join(dir, 'app') });
    expect(project.services.git!.build?.context).toBe('https://github.com/docker/welcome.git');
  });

  it('refuses a compose file or .env that is a link out of the folder', async () => {
    const { root, dir } = await tree({ 'outside/compose.yaml': WEB, 'outside/.env': 'A=1\n' });
    await symlink(join(root, 'outside/compose.yaml'), join(dir, 'compose.yaml'));
    const err = await loadError(dir);
    expect(err.reason).toBe('PathEscapesStack');
    expect(err.message).toBe(
      `${join(dir, 'compose.yaml')}: resolves to ${join(root, 'outside/compose.yaml')}, outside the stack folder ${dir}`,
    );
    await rm(join(dir, 'compose.yaml'));
    await writeFile(join(dir, 'compose.yaml'), WEB);
    await symlink(join(root, 'outside/.env'), join(dir, '.env'));
    expect((await loadError(dir)).place.file).toBe(join(dir, '.env'));
    // A compose file named by the caller is confined too.
    await rm(join(dir, '.env'));
    expect((await loadError(dir, { files: ['../../outside/compose.yaml'] })).reason).toBe(
      'PathEscapesStack',
    );
    // So are env files named for interpolation.
    expect((await loadError(dir, { envFiles: ['../../outside/.env'] })).reason).toBe(
      'PathEscapesStack',
    );
  });

  it('loads what leaves the folder when confinement is off', async () => {
    const { dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    env_file: ../other/.env\n    volumes: ["../x:/x"]\n`,
      'stacks/other/.env': 'TOKEN=neighbour\n',
    });
    const { project } = await loadProject(dir, { env: {}, confine: false });
    expect(project.services.web!.environment).toEqual({ TOKEN: 'neighbour' });
  });
});

describe('size caps', () => {
  const over = MAX_INPUT_FILE_BYTES + 1;

  it('refuses a compose file above the cap without reading it', async () => {
    const { dir } = await tree({ 'stacks/web/compose.yaml': WEB });
    // Sparse and far above what Node reads into one string: only a stat can answer quickly.
    await truncate(join(dir, 'compose.yaml'), 3 * 1024 ** 3);
    const err = await loadError(dir);
    expect(err.reason).toBe('FileTooLarge');
    expect(err.message).toBe(
      `compose file ${join(dir, 'compose.yaml')} is too large: ${3 * 1024 ** 3} bytes, the limit is 1 MiB (1048576 bytes)`,
    );
    expect(err.place.file).toBe(join(dir, 'compose.yaml'));
  });

  it('refuses a .env and an env_file above the cap, naming service and field', async () => {
    const { dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    env_file: big.env\n`,
      'stacks/web/big.env': `A=${'x'.repeat(over)}\n`,
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('FileTooLarge');
    expect(err.place).toMatchObject({ service: 'web', field: 'env_file[0]' });
    expect(err.message).toMatch(/field "env_file\[0\]": env file .*big\.env is too large: /);
    await writeFile(join(dir, '.env'), `A=${'x'.repeat(over)}\n`);
    const dotenv = await loadError(dir);
    expect(dotenv.reason).toBe('FileTooLarge');
    expect(dotenv.message).toContain(`env file ${join(dir, '.env')} is too large`);
  });

  it('refuses an env_file that is not a regular file', async () => {
    const { dir } = await tree({ 'stacks/web/compose.yaml': `${WEB}    env_file: conf\n` });
    await mkdir(join(dir, 'conf'));
    const err = await loadError(dir);
    expect(err.place).toMatchObject({ field: 'env_file[0]' });
    expect(err.message).toContain('is not a regular file');
  });

  it('refuses an included file above the cap', async () => {
    const { dir } = await tree({ 'stacks/web/compose.yaml': `include: [inc.yaml]\n${WEB}` });
    await writeFile(join(dir, 'inc.yaml'), '');
    await truncate(join(dir, 'inc.yaml'), over);
    expect((await loadError(dir)).reason).toBe('FileTooLarge');
  });

  it('refuses interpolation that multiplies a variable past the limit', async () => {
    const value = 'v'.repeat(512 * 1024);
    const refs = Array.from({ length: 10 }, () => '${A}').join('');
    const { dir } = await tree({
      'stacks/web/.env': `A=${value}\n`,
      'stacks/web/compose.yaml': `${WEB}    environment:\n      B: "${refs}"\n`,
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('ComposeInterpolation');
    expect(err.message).toBe(
      `${join(dir, 'compose.yaml')}: variables expand to more than 4 MiB (4194304 bytes)`,
    );
  });

  it('refuses an env file whose lines double each other', async () => {
    const lines = ['A0=xxxxxxxxxxxxxxxx'];
    for (let i = 1; i < 40; i++) lines.push(`A${i}=\${A${i - 1}}\${A${i - 1}}`);
    const { dir } = await tree({
      'stacks/web/compose.yaml': `${WEB}    env_file: bomb.env\n`,
      'stacks/web/bomb.env': `${lines.join('\n')}\n`,
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('ComposeEnvFileInvalid');
    expect(err.message).toMatch(/bomb\.env:\d+: variables expand to more than 4 MiB/);
  });
});

describe('alias bombs', () => {
  it('refuses a billion laughs', async () => {
    const lines = ['x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const names = 'abcdefghi';
    for (let i = 1; i < 9; i++) {
      const p = names[i - 1];
      lines.push(
        `x-${names[i]}: &${names[i]} [${Array.from({ length: 9 }, () => `*${p}`).join(',')}]`,
      );
    }
    const { dir } = await tree({ 'stacks/web/compose.yaml': `${lines.join('\n')}\n${WEB}` });
    const err = await loadError(dir);
    expect(err.reason).toBe('ComposeYamlInvalid');
    expect(err.message).toMatch(/invalid YAML: too many alias expansions \(an alias bomb\?\)/);
  });

  it('refuses a wide mapping aliased many times', async () => {
    // Long values, not many keys: parsing stays cheap while each copy weighs about 20 KB.
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}: ${'v'.repeat(200)}`).join(', ');
    const aliases = Array.from({ length: 900 }, () => '*m').join(', ');
    const { dir } = await tree({
      'stacks/web/compose.yaml': `x-m: &m {${keys}}\nx-l: [${aliases}]\n${WEB}`,
    });
    const err = await loadError(dir);
    expect(err.reason).toBe('ComposeYamlInvalid');
    expect(err.message).toBe(
      `${join(dir, 'compose.yaml')}: invalid YAML: aliases expand the document past 16 MiB (16777216 bytes) (an alias bomb?)`,
    );
  });

  it('refuses an alias of its own ancestor', async () => {
    const { dir } = await tree({ 'stacks/web/compose.yaml': `x-a: &a [1, *a]\n${WEB}` });
    expect((await loadError(dir)).reason).toBe('ComposeYamlInvalid');
  });
});

describe('duplicate keys', () => {
  it('are found in one pass, even in a mapping of many keys', async () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `  X${i}: v`);
    keys.push('  X7: again');
    const { dir } = await tree({
      'stacks/web/compose.yaml': `x-big:\n${keys.join('\n')}\n${WEB}`,
    });
    const started = performance.now();
    const err = await loadError(dir);
    // The yaml library's own check compares every key with every other: about a minute here.
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(err.reason).toBe('ComposeYamlInvalid');
    expect(err.message).toBe(
      `${join(dir, 'compose.yaml')}: invalid YAML: Map keys must be unique: "X7" at line 40002, column 3`,
    );
  });
});
