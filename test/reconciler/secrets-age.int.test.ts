import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { captureLog } from '../server/capture-log.js';
import { ageEncrypt, ageKeygen, type AgeKey } from '../stack/age.js';
import { Harness, composeFile, exists } from '../helpers/harness.js';
import { FIXTURE_IMAGE } from '../helpers/docker.js';
import { healthcheckYaml } from '../helpers/compose.js';
import {
  apiAnswers,
  diffOf,
  filesUnder,
  openWithKeys,
  plaintextIn,
  shellIn,
  writeBytes,
} from './secrets-world.js';

/**
 * age files made by the real `age` CLI, committed to a stack, deployed by the real app over
 * git and Docker: as an env file, a compose secret, a bind-mounted file and a file in a
 * bind-mounted folder, read by a container running as a non-root user.
 */
const RUN = Math.random().toString(36).slice(2, 8);
const P = {
  env: `env-plaintext-${RUN}`,
  token: `token-plaintext-${RUN}`,
  token2: `token-second-${RUN}`,
  conf: `conf-plaintext-${RUN}`,
  pem: `pem-plaintext-${RUN}`,
  other: `other-plaintext-${RUN}`,
};
const NEEDLES = Object.values(P);

function stackCompose(): string {
  return [
    'services:',
    '  app:',
    `    image: ${FIXTURE_IMAGE}`,
    '    user: "1000:1000"',
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    '    stop_grace_period: 1s',
    '    env_file: app.env.age',
    '    secrets: [token]',
    '    volumes:',
    '      - ./conf/app.conf.age:/etc/app.conf:ro',
    '      - ./certs:/certs:ro',
    ...healthcheckYaml('test -s /run/secrets/token && test -s /etc/app.conf', '    '),
    'secrets:',
    '  token:',
    '    file: ./token.age',
    '',
  ].join('\n');
}

describe('age-encrypted files in a deployed stack (git, Docker)', { timeout: 600_000 }, () => {
  let h: Harness;
  let key: AgeKey;
  let stranger: AgeKey;
  let control: ControlPlane;
  const log = captureLog();
  let stack: string;
  let other: string;
  const decrypted = (): string => path.join(h.dataDir, 'decrypted');

  beforeAll(async () => {
    h = await Harness.create();
    key = ageKeygen(h.root, 'berth-keys.txt');
    stranger = ageKeygen(h.root, 'stranger-keys.txt');
    stack = h.name('agesec');
    other = h.name('ageother');
  });
  afterAll(async () => {
    await h.cleanup();
  });

  async function writeSecrets(tokenPlain: string, envFor: AgeKey = key): Promise<void> {
    const r = [key.recipient];
    await h.writeStack(stack, stackCompose());
    await h.write(
      `stacks/${stack}/app.env.age`,
      ageEncrypt(`DB_PASSWORD=${P.env}\nPLAIN=visible\n`, [envFor.recipient], {
        armor: true,
      }).toString(),
    );
    await writeBytes(h, `stacks/${stack}/token.age`, ageEncrypt(tokenPlain, r));
    await writeBytes(h, `stacks/${stack}/conf/app.conf.age`, ageEncrypt(P.conf, r));
    await h.write(`stacks/${stack}/certs/readme.txt`, 'a plain file\n');
    await h.write(
      `stacks/${stack}/certs/sub/key.pem`,
      ageEncrypt(P.pem, r, { armor: true }).toString(),
    );
  }

  it('deploys the plaintext to the containers, and only there', async () => {
    await writeSecrets(P.token);
    h.commit('encrypted stack');
    control = await openWithKeys(h, [key.file], log.logger);
    const pass = await control.reconcile({});
    expect(pass.stacks.map((s) => [s.result, s.message])).toEqual([
      ['deployed', expect.stringContaining('healthy')],
    ]);
    const seen = await shellIn(
      h,
      stack,
      'app',
      'id -u; echo "$DB_PASSWORD|$PLAIN"; cat /run/secrets/token; echo; cat /etc/app.conf; echo; cat /certs/sub/key.pem; echo; cat /certs/readme.txt',
    );
    expect(seen.split('\n')).toEqual([
      '1000',
      `${P.env}|visible`,
      P.token,
      P.conf,
      P.pem,
      'a plain file',
      '',
    ]);
    // The plaintext files are private on the host: 0700 folders from the data dir down.
    for (const dir of [decrypted(), path.join(decrypted(), stack)])
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await readdir(path.join(decrypted(), stack))).toHaveLength(3);
  });

  it('plans nothing on a second pass: the decrypted paths are stable', async () => {
    const before = await h.containers(stack);
    const dry = await control.reconcile({ dryRun: true });
    expect(dry.plan.map((p) => p.action)).toEqual(['unchanged']);
    // The containers' config hashes match what a fresh load computes: same paths, same env.
    const diff = await diffOf(h, [key.file], stack);
    expect(diff).toMatchObject({ status: 'in-sync', containers: [] });
    const pass = await control.reconcile({});
    expect(pass.stacks.map((s) => s.result)).toEqual(['unchanged']);
    expect(await h.containers(stack)).toEqual(before);
  });

  it('replaces a re-encrypted secret and removes the replaced version’s plaintext', async () => {
    const files = (): Promise<string[]> => readdir(path.join(decrypted(), stack));
    const old = await files();
    await writeBytes(h, `stacks/${stack}/token.age`, ageEncrypt(P.token2, [key.recipient]));
    h.commit('new token');
    const pass = await control.reconcile({});
    expect(pass.stacks.map((s) => s.result)).toEqual(['deployed']);
    expect((await shellIn(h, stack, 'app', 'cat /run/secrets/token')).trim()).toBe(P.token2);
    const now = await files();
    expect(now).toHaveLength(3);
    // The env file's plaintext is in the environment only; conf and pem did not change.
    expect(now.filter((d) => old.includes(d))).toHaveLength(2);
  });

  it('fails a stack no key opens, keeps its good version running, deploys the others', async () => {
    const before = await h.containers(stack);
    const running = h.store.getStack(stack)?.running;
    await writeSecrets(P.token2, stranger);
    await h.writeStack(other, composeFile({ web: { extra: '    env_file: other.env' } }), {
      'other.env': ageEncrypt(`OTHER=${P.other}\n`, [key.recipient], { armor: true }).toString(),
    });
    h.commit('env file for the wrong key, and another stack');
    const pass = await control.reconcile({});
    const results = Object.fromEntries(pass.stacks.map((s) => [s.stack, s]));
    expect(results[other]?.result).toBe('deployed');
    expect(results[stack]?.result).toBe('invalid');
    expect(results[stack]?.message).toContain(`stacks/${stack}/app.env.age`);
    expect(results[stack]?.error?.reason).toBe('SecretKeyMissing');
    expect(await h.containers(stack)).toEqual(before);
    expect(h.store.getStack(stack)?.running).toEqual(running);
  });

  it('fails the stack when a byte of the age file is flipped', async () => {
    const before = await h.containers(stack);
    await writeSecrets(P.token2);
    const tampered = ageEncrypt(P.token2, [key.recipient]);
    const at = tampered.length - 5;
    tampered.writeUInt8(tampered.readUInt8(at) ^ 0x01, at);
    await writeBytes(h, `stacks/${stack}/token.age`, tampered);
    h.commit('tampered token');
    const pass = await control.reconcile({});
    const outcome = pass.stacks.find((s) => s.stack === stack);
    expect(outcome?.result).toBe('invalid');
    expect(outcome?.message).toContain(`stacks/${stack}/token.age`);
    expect(['SecretTampered', 'SecretInvalid']).toContain(outcome?.error?.reason);
    expect(await h.containers(stack)).toEqual(before);
  });

  it('fails the stack when berth has no key at all', async () => {
    const before = await h.containers(stack);
    control = await openWithKeys(h, [], log.logger);
    await writeSecrets(P.token2);
    h.commit('good files again');
    const pass = await control.reconcile({});
    const outcome = pass.stacks.find((s) => s.stack === stack);
    expect(outcome?.result).toBe('invalid');
    expect(outcome?.error?.reason).toBe('SecretKeyMissing');
    expect(await h.containers(stack)).toEqual(before);
    control = await openWithKeys(h, [key.file], log.logger);
    const fixed = await control.reconcile({});
    expect(fixed.stacks.find((s) => s.stack === stack)?.result).toBe('deployed');
  });

  it('rolls back and brings down, removing the plaintext of what stops running', async () => {
    expect((await shellIn(h, stack, 'app', 'cat /run/secrets/token')).trim()).toBe(P.token2);
    expect((await shellIn(h, other, 'web', 'echo $OTHER')).trim()).toBe(P.other);
    const beforeRollback = await readdir(path.join(decrypted(), stack));
    const back = await control.rollback(stack, { by: 'test' });
    expect(back.result).toBe('deployed');
    expect((await shellIn(h, stack, 'app', 'cat /run/secrets/token')).trim()).toBe(P.token2);
    // The version rolled back to has its files encrypted anew: other paths, the old ones gone.
    const afterRollback = await readdir(path.join(decrypted(), stack));
    expect(afterRollback).toHaveLength(3);
    expect(afterRollback.filter((d) => beforeRollback.includes(d))).toEqual([]);
    await control.down(stack, { by: 'test' });
    expect(await exists(path.join(decrypted(), stack))).toBe(false);
  });

  it('leaves no plaintext in the data dir, the database, the logs or the API', async () => {
    const api = await apiAnswers(h, [stack, other], log.logger);
    // decrypted/ holds the files of running versions by design; none is running here.
    const running = (await readdir(decrypted()).catch(() => [] as string[])).filter(
      (name) => name !== stack,
    );
    expect(running).toEqual([]);
    const files = await filesUnder(h.dataDir);
    expect(files.some((f) => f.endsWith('berth.db'))).toBe(true);
    expect(await plaintextIn(files, NEEDLES)).toEqual([]);
    const logs = log.text();
    expect(logs).toContain('deploying stack');
    expect(NEEDLES.filter((n) => logs.includes(n))).toEqual([]);
    expect(api).toContain(stack);
    expect(NEEDLES.filter((n) => api.includes(n))).toEqual([]);
  });
});
