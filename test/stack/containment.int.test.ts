import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, composeFile, exists } from '../helpers/harness.js';

/** Every file under dir with its content, links as their text: to prove nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(dir, full);
    if (rel.split(path.sep)[0] === '.git') continue;
    if (entry.isFile()) out[rel] = await readFile(full, 'utf8');
    else if (entry.isSymbolicLink()) out[rel] = `-> link`;
  }
  return out;
}

describe('containment: a stack is its folder', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('refuses stacks reaching out of their folder, and deploys the good one in the same pass', async () => {
    h = await Harness.create();
    const good = h.name('good');
    const evil = h.name('evil');
    const passwd = h.name('passwd');
    const neighbour = h.name('neighbour');
    const linked = h.name('linked');
    const bind = h.name('bind');

    await h.writeStack(good, composeFile({ web: {} }), { '.env': 'TOKEN=good-stack-secret\n' });
    // A folder of the host, outside the repository, that looks like a stack.
    const outside = path.join(h.root, 'outside');
    await mkdir(path.join(outside, 'evil'), { recursive: true });
    await writeFile(path.join(outside, 'evil', 'compose.yaml'), composeFile({ web: {} }));
    await writeFile(path.join(outside, 'evil', 'secret.txt'), 'host secret\n');
    await symlink(path.join(outside, 'evil'), path.join(h.work, 'stacks', evil));
    await h.writeStack(passwd, composeFile({ web: { extra: '    env_file: /etc/passwd' } }));
    await h.writeStack(neighbour, composeFile({ web: { extra: `    env_file: ../${good}/.env` } }));
    await h.write('x/data.txt', 'repository file outside the stack\n');
    await h.writeStack(linked, composeFile({ web: {} }));
    await symlink('../../x', path.join(h.work, 'stacks', linked, 'data'));
    await h.writeStack(bind, composeFile({ web: { extra: '    volumes: ["../x:/x"]' } }));
    h.commit('one good stack, five reaching out');
    const outsideBefore = await snapshot(outside);

    const control = await h.open();
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    const byStack = Object.fromEntries(pass.stacks.map((s) => [s.stack, s]));
    expect(byStack[good]).toMatchObject({ result: 'deployed', outcome: 'done' });
    expect((await h.containers(good)).every((c) => c.state === 'running')).toBe(true);

    // The linked folder: broken with a clear error; nothing read from or written to its target.
    expect(byStack[evil]).toMatchObject({ result: 'invalid', outcome: 'terminal' });
    expect(byStack[evil]?.error?.reason).toBe('StackFolderIsLink');
    expect(byStack[evil]?.message).toContain(
      `stack folder stacks/${evil} is a symbolic link; a stack must be a real folder inside the repository`,
    );
    expect(await snapshot(outside)).toEqual(outsideBefore);
    expect(await exists(h.folders.runningDir(evil))).toBe(false);
    expect(await exists(path.join(h.dataDir, 'good_stacks', evil))).toBe(false);

    const refused: [string, RegExp][] = [
      [
        passwd,
        /compose\.yaml: service "web": field "env_file\[0\]": path "\/etc\/passwd" is outside the stack folder /,
      ],
      [
        neighbour,
        new RegExp(
          `compose\\.yaml: service "web": field "env_file\\[0\\]": path "\\.\\./${good}/\\.env" \\(.*\\) is outside the stack folder `,
        ),
      ],
      [
        bind,
        /compose\.yaml: service "web": field "volumes\[0\]": path "\.\.\/x" \(.*\/x\) is outside the stack folder /,
      ],
    ];
    for (const [stack, message] of refused) {
      expect(byStack[stack], stack).toMatchObject({ result: 'invalid', outcome: 'terminal' });
      expect(byStack[stack]?.error?.reason, stack).toBe('PathEscapesStack');
      expect(byStack[stack]?.message, stack).toMatch(message);
      expect(byStack[stack]?.error?.place, stack).toMatchObject({ service: 'web' });
    }
    expect(byStack[linked]).toMatchObject({ result: 'invalid', outcome: 'terminal' });
    expect(byStack[linked]?.error?.reason).toBe('SymlinkEscapesStack');
    expect(byStack[linked]?.message).toMatch(
      new RegExp(
        `symbolic link .*/stacks/${linked}/data points to \\.\\./\\.\\./x, outside the stack folder `,
      ),
    );

    for (const stack of [evil, passwd, neighbour, linked, bind]) {
      expect(await h.containers(stack), stack).toEqual([]);
      expect(await exists(h.folders.runningDir(stack)), stack).toBe(false);
      expect(h.store.getStack(stack)?.conditions.find((c) => c.type === 'Ready')?.reason).toBe(
        'ValidationFailed',
      );
    }
  });

  it('runs the pre-deploy hook on a private copy: the checkout stays as git has it', async () => {
    h = await Harness.create();
    const stack = h.name('hooked');
    const hook = [
      '#!/bin/sh',
      'set -e',
      'cd "$(dirname "$0")"',
      'echo "# changed by the hook" >> compose.yaml',
      'echo made > made-by-hook.txt',
      'rm -f notes.txt',
      '',
    ].join('\n');
    await h.writeStack(stack, composeFile({ web: {} }), {
      'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
      'pre.sh': hook,
      'notes.txt': 'kept\n',
    });
    h.commit('a hook that edits its own folder');
    const control = await h.open();
    const pass = await control.reconcile({});
    expect(pass.stacks).toMatchObject([{ stack, result: 'deployed' }]);

    const checkout = path.join(h.dataDir, 'repo', 'stacks', stack);
    const status = execFileSync('git', ['status', '--porcelain', '--ignored'], {
      cwd: path.join(h.dataDir, 'repo'),
      encoding: 'utf8',
    });
    expect(status).toBe('');
    expect(await exists(path.join(checkout, 'made-by-hook.txt'))).toBe(false);
    expect(await readFile(path.join(checkout, 'notes.txt'), 'utf8')).toBe('kept\n');
    expect(await readFile(path.join(checkout, 'compose.yaml'), 'utf8')).toBe(
      composeFile({ web: {} }),
    );
    // The version stays the one hashed from git, so the next pass has nothing to do.
    const again = await control.reconcile({});
    expect(again.stacks).toMatchObject([{ stack, result: 'unchanged' }]);
  });
});
