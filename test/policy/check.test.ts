import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/compose/load.js';
import type { ComposeProject } from '../../src/compose/types.js';
import {
  PolicyConfig,
  PolicyError,
  assertPolicy,
  checkPolicy,
  normalizePolicy,
  policyForStack,
  resolvePolicy,
  type Policy,
} from '../../src/policy/index.js';

const DATA_DIR = '/var/lib/berth';
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A stack folder `<tmp>/<stack>` holding the compose file (and `files`), loaded. */
async function project(
  compose: string,
  options: {
    stack?: string;
    under?: string;
    files?: Record<string, string>;
    confine?: boolean;
  } = {},
): Promise<ComposeProject> {
  const root = options.under ?? (await mkdtemp(path.join(tmpdir(), 'berth-policy-')));
  if (options.under === undefined) dirs.push(root);
  const dir = path.join(root, options.stack ?? 'app');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'compose.yaml'), compose);
  for (const [name, text] of Object.entries(options.files ?? {})) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return (
    await loadProject(dir, {
      projectName: options.stack ?? 'app',
      env: {},
      confine: options.confine ?? true,
    })
  ).project;
}

/** The policy of a config's `policy:` section, with berth's data dir. */
function policy(section: unknown = {}, dataDir: string | undefined = DATA_DIR): Policy {
  return resolvePolicy(normalizePolicy(PolicyConfig.parse(section)), dataDir);
}

function messages(p: ComposeProject, pol: Policy, stack = 'app'): string[] {
  return checkPolicy(p, policyForStack(pol, stack), stack).map((v) => v.message);
}

const IMAGE = 'image: busybox';

const EVERYTHING = `services:
  app:
    ${IMAGE}
    privileged: true
    network_mode: host
    pid: host
    ipc: host
    cap_add: [NET_ADMIN, CAP_SYS_ADMIN]
    devices: ["/dev/sda:/dev/sda", "/dev/dri/renderD128"]
    security_opt: ["no-new-privileges:true", "seccomp=unconfined"]
    volumes:
      - ./data:/data
      - /srv/media:/media:ro
      - /var/run/docker.sock:/var/run/docker.sock
`;

describe('the standard preset', () => {
  it('allows privileges, host namespaces, capabilities, devices and host paths', async () => {
    expect(messages(await project(EVERYTHING), policy())).toEqual([]);
  });

  it('refuses berth data dir, inside it, and above it (/) unless that path is listed', async () => {
    const p = await project(`services:
  app:
    ${IMAGE}
    volumes:
      - ${DATA_DIR}:/berth
      - ${DATA_DIR}/berth.sock:/berth.sock
      - /:/host:ro
      - /var/lib:/lib-host
      - /var/lib/docker:/docker
`);
    expect(messages(p, policy())).toEqual([
      `compose.yaml: service "app": field "volumes[0]": host path "${DATA_DIR}" is berth's data dir "${DATA_DIR}", which no policy allows`,
      `compose.yaml: service "app": field "volumes[1]": host path "${DATA_DIR}/berth.sock" is inside berth's data dir "${DATA_DIR}", which no policy allows`,
      `compose.yaml: service "app": field "volumes[2]": host path "/" holds berth's data dir "${DATA_DIR}": allowed only when policy.bindMounts lists "/" itself`,
      `compose.yaml: service "app": field "volumes[3]": host path "/var/lib" holds berth's data dir "${DATA_DIR}": allowed only when policy.bindMounts lists "/var/lib" itself`,
    ]);
    // Listing `/` itself allows the whole-host mount; the data dir stays refused.
    const listed = policy({ bindMounts: ['**', '/'] });
    expect(messages(p, listed)).toEqual([
      expect.stringContaining('field "volumes[0]"'),
      expect.stringContaining('field "volumes[1]"'),
      expect.stringContaining('field "volumes[3]"'),
    ]);
  });

  it('allows relative sources even when the stack folder lies in the data dir', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'berth-policy-data-'));
    dirs.push(data);
    const p = await project(
      `services:\n  app:\n    ${IMAGE}\n    volumes: [./conf:/conf, .:/stack, "..:/up"]\n`,
      // Containment refuses `..` first; the data-dir rule is the second fence behind it.
      { under: path.join(data, 'running_stacks'), confine: false },
    );
    expect(messages(p, policy({ preset: 'strict' }, data))).toEqual([
      `compose.yaml: service "app": field "volumes[2]": host path "${data}/running_stacks" is inside berth's data dir "${data}", which no policy allows`,
    ]);
  });

  it('passes every stack of the compat corpus', async () => {
    const corpus = path.join(path.dirname(fileURLToPath(import.meta.url)), '../compat/corpus');
    const cases = readdirSync(corpus, { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(cases.length).toBeGreaterThan(20);
    for (const entry of cases) {
      const dir = path.join(corpus, entry.name);
      const { project: p } = await loadProject(dir, { projectName: entry.name, env: {} });
      expect({ stack: entry.name, refused: messages(p, policy(), entry.name) }).toEqual({
        stack: entry.name,
        refused: [],
      });
    }
  });

  it('passes typical self-hosted stacks', async () => {
    const stacks = [
      // Traefik reads the Docker socket; certificates in a relative folder.
      `services:\n  traefik:\n    ${IMAGE}\n    ports: ["80:80"]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n      - ./letsencrypt:/letsencrypt\n`,
      // A database on a named volume, its init scripts bound read-only.
      `services:\n  db:\n    ${IMAGE}\n    volumes: [pgdata:/var/lib/postgresql/data, ./init:/docker-entrypoint-initdb.d:ro]\nvolumes:\n  pgdata: {}\n`,
      // Home Assistant: host network, privileged, the host clock.
      `services:\n  ha:\n    ${IMAGE}\n    network_mode: host\n    privileged: true\n    volumes: [./config:/config, /etc/localtime:/etc/localtime:ro, /run/dbus:/run/dbus:ro]\n`,
      // WireGuard: NET_ADMIN, kernel modules.
      `services:\n  wg:\n    ${IMAGE}\n    cap_add: [NET_ADMIN, SYS_MODULE]\n    volumes: [/lib/modules:/lib/modules:ro]\n`,
      // Jellyfin with hardware transcoding and a media folder.
      `services:\n  jellyfin:\n    ${IMAGE}\n    devices: [/dev/dri:/dev/dri]\n    volumes: [/srv/media:/media:ro]\n`,
    ];
    for (const compose of stacks) expect(messages(await project(compose), policy())).toEqual([]);
  });
});

describe('the strict preset', () => {
  it('refuses each field, listing every violation', async () => {
    expect(messages(await project(EVERYTHING), policy({ preset: 'strict' }))).toEqual([
      'compose.yaml: service "app": field "privileged": privileged mode is not allowed by policy.privileged',
      `compose.yaml: service "app": field "network_mode": the host's network namespace is not allowed by policy.hostNamespaces`,
      `compose.yaml: service "app": field "pid": the host's pid namespace is not allowed by policy.hostNamespaces`,
      `compose.yaml: service "app": field "ipc": the host's ipc namespace is not allowed by policy.hostNamespaces`,
      'compose.yaml: service "app": field "cap_add[0]": capability "NET_ADMIN" is not allowed by policy.capabilities',
      'compose.yaml: service "app": field "cap_add[1]": capability "SYS_ADMIN" is not allowed by policy.capabilities',
      'compose.yaml: service "app": field "devices[0]": device "/dev/sda" is not allowed by policy.devices',
      'compose.yaml: service "app": field "devices[1]": device "/dev/dri/renderD128" is not allowed by policy.devices',
      'compose.yaml: service "app": field "security_opt[1]": security option "seccomp=unconfined" is not allowed by policy.securityOpt',
      'compose.yaml: service "app": field "volumes[1]": host path "/srv/media" is not allowed by policy.bindMounts',
      'compose.yaml: service "app": field "volumes[2]": host path "/var/run/docker.sock" is not allowed by policy.bindMounts',
    ]);
  });

  it('keeps ordinary stacks deploying: named volumes, relative binds, no-new-privileges', async () => {
    const p = await project(`services:
  web:
    ${IMAGE}
    security_opt: [no-new-privileges, "no-new-privileges=true"]
    cap_drop: [ALL]
    volumes: [data:/data, ./conf:/conf:ro, {type: tmpfs, target: /tmp}]
volumes:
  data: {}
`);
    expect(messages(p, policy({ preset: 'strict' }))).toEqual([]);
  });

  it('lets explicit keys override the preset', async () => {
    const pol = policy({
      preset: 'strict',
      privileged: true,
      hostNamespaces: ['network', 'pid', 'ipc'],
      capabilities: ['net_admin', 'CAP_SYS_*'],
      devices: ['/dev/sd?', '/dev/dri/**'],
      securityOpt: ['no-new-privileges*', 'seccomp:unconfined'],
      bindMounts: ['/srv/**', '/var/run/docker.sock'],
    });
    expect(messages(await project(EVERYTHING), pol)).toEqual([]);
  });

  it('refuses a local volume that binds a host path', async () => {
    const p = await project(`services:
  app:
    ${IMAGE}
    volumes: [root:/host]
volumes:
  root:
    driver_opts: { type: none, o: bind, device: /etc }
  fine:
    driver_opts: { type: tmpfs, device: tmpfs }
`);
    expect(messages(p, policy({ preset: 'strict' }))).toEqual([
      'compose.yaml: volume "root": field "driver_opts.device": host path "/etc" is not allowed by policy.bindMounts',
    ]);
    expect(messages(p, policy())).toEqual([]);
  });
});

describe('per-stack exceptions', () => {
  const section = {
    preset: 'strict',
    stacks: { monitoring: { hostNamespaces: ['pid'], bindMounts: ['/proc/**', '/sys/**', '/'] } },
  };
  const compose = `services:
  exporter:
    ${IMAGE}
    pid: host
    network_mode: host
    volumes: [/proc:/host/proc:ro, /sys:/host/sys:ro, /:/rootfs:ro, /etc:/host/etc:ro]
`;

  it('replace the global value for that stack only, and name the key that allows it', async () => {
    const pol = policy(section);
    const own = await project(compose, { stack: 'monitoring' });
    expect(messages(own, pol, 'monitoring')).toEqual([
      `compose.yaml: service "exporter": field "network_mode": the host's network namespace is not allowed by policy.stacks.monitoring.hostNamespaces`,
      'compose.yaml: service "exporter": field "volumes[3]": host path "/etc" is not allowed by policy.stacks.monitoring.bindMounts',
    ]);
    const other = await project(compose, { stack: 'other' });
    expect(messages(other, pol, 'other')).toEqual([
      `compose.yaml: service "exporter": field "network_mode": the host's network namespace is not allowed by policy.hostNamespaces`,
      `compose.yaml: service "exporter": field "pid": the host's pid namespace is not allowed by policy.hostNamespaces`,
      expect.stringContaining('host path "/proc" is not allowed by policy.bindMounts'),
      expect.stringContaining('host path "/sys" is not allowed by policy.bindMounts'),
      expect.stringContaining('host path "/" is not allowed by policy.bindMounts'),
      expect.stringContaining('host path "/etc" is not allowed by policy.bindMounts'),
    ]);
  });

  it('carry the adopt list per stack', () => {
    const pol = policy({ adopt: ['legacy'] });
    expect(policyForStack(pol, 'legacy').adopt).toBe(true);
    expect(policyForStack(pol, 'other').adopt).toBe(false);
  });
});

describe('assertPolicy', () => {
  it('throws one PolicyError naming the stack, file, service, field and value', async () => {
    const p = await project(
      `services:\n  app:\n    ${IMAGE}\n    privileged: true\n    volumes: ["/:/host"]\n`,
      { stack: 'evil' },
    );
    const err = (() => {
      try {
        assertPolicy(p, policy({ preset: 'strict' }), 'evil');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PolicyError);
    const refused = err as PolicyError;
    expect(refused.reason).toBe('PolicyViolation');
    expect(refused.message).toBe(
      'stack "evil": compose.yaml: service "app": field "privileged": privileged mode is not allowed by policy.privileged; ' +
        'compose.yaml: service "app": field "volumes[0]": host path "/" is not allowed by policy.bindMounts',
    );
    expect(refused.place).toEqual({
      stack: 'evil',
      file: 'compose.yaml',
      service: 'app',
      field: 'privileged',
    });
    expect(refused.violations.map((v) => [v.key, v.value])).toEqual([
      ['privileged', 'true'],
      ['bindMounts', '/'],
    ]);
  });

  it('passes a project the policy allows, and applies standard without a policy section', async () => {
    const p = await project(EVERYTHING);
    expect(() => assertPolicy(p, resolvePolicy(undefined, DATA_DIR), 'app')).not.toThrow();
  });
});
