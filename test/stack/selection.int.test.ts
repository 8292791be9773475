import { afterEach, describe, expect, it } from 'vitest';
import { testDocker, uniqueName } from '../helpers/docker.js';
import { Harness, composeFile, exists } from '../helpers/harness.js';

/** The container's environment as a mapping. */
async function envOf(id: string): Promise<Record<string, string>> {
  const info = await testDocker().getContainer(id).inspect();
  return Object.fromEntries(
    (info.Config.Env ?? []).map((line) => [
      line.slice(0, line.indexOf('=')),
      line.slice(line.indexOf('=') + 1),
    ]),
  );
}

describe('compose file selection through the reconciler', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('deploys compose.override.yaml by default and the files, env files, profiles and name the settings select', async () => {
    h = await Harness.create();
    const plain = h.name('ovr');
    await h.writeStack(plain, composeFile({ web: {} }), {
      'compose.override.yaml': `services:\n  web:\n    environment:\n      FROM_OVERRIDE: "yes"\n${composeFile({ extra: {} }).replace('services:\n', '')}`,
    });
    // A folder whose name is no stack name, renamed by projectName, without compose.yaml.
    const folder = `Sel ${uniqueName('x')}`;
    const named = h.name('sel');
    await h.write(`stacks/${folder}/base.yaml`, composeFile({ app: { marker: '${TAG}' } }));
    await h.write(
      `stacks/${folder}/prod.yaml`,
      composeFile({ debug: { marker: 'debug' } }).replace(
        '    stop_grace_period: 1s',
        '    stop_grace_period: 1s\n    profiles: [debug]',
      ),
    );
    await h.write(`stacks/${folder}/env/prod.env`, 'TAG=one\n');
    await h.write(`stacks/${folder}/.env`, 'TAG=dotenv-is-not-read\n');
    await h.write(
      `stacks/${folder}/deploy.yaml`,
      `compose_files: [base.yaml, prod.yaml]\nenvFiles: [env/prod.env]\nprofiles: [debug]\nprojectName: ${named}\n`,
    );
    h.commit('two stacks with a selection');
    const control = await h.open();

    const pass1 = await control.reconcile({});
    expect(pass1.ok).toBe(true);
    expect(pass1.stacks.map((s) => [s.stack, s.result]).sort()).toEqual(
      [
        [named, 'deployed'],
        [plain, 'deployed'],
      ].sort(),
    );
    const plainContainers = await h.containers(plain);
    expect(plainContainers.map((c) => c.service)).toEqual(['extra', 'web']);
    const web = plainContainers.find((c) => c.service === 'web')!;
    expect(await envOf(web.id)).toMatchObject({ MARKER: 'v1', FROM_OVERRIDE: 'yes' });

    const selected = await h.containers(named);
    expect(selected.map((c) => [c.service, c.state])).toEqual([
      ['app', 'running'],
      ['debug', 'running'],
    ]);
    expect(await envOf(selected[0]!.id)).toMatchObject({ MARKER: 'one' });
    expect(await exists(h.folders.runningDir(named))).toBe(true);
    expect(h.store.getStack(named)?.state).toBe('AVAILABLE');

    // An env file is part of the version: changing it redeploys that stack alone.
    await h.write(`stacks/${folder}/env/prod.env`, 'TAG=two\n');
    h.commit('new tag');
    const pass2 = await control.reconcile({});
    expect(pass2.ok).toBe(true);
    expect(Object.fromEntries(pass2.stacks.map((s) => [s.stack, s.result]))).toEqual({
      [named]: 'deployed',
      [plain]: 'unchanged',
    });
    const app = (await h.containers(named)).find((c) => c.service === 'app')!;
    expect(await envOf(app.id)).toMatchObject({ MARKER: 'two' });
  });
});
