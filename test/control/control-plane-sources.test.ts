import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createRealControl, type RealControl } from '../server/real-control.js';

let open: RealControl[] = [];
afterEach(async () => {
  await Promise.all(open.map((o) => o.close()));
  open = [];
});

function setup(): RealControl {
  const real = createRealControl(
    ['a', 'b', 'c'].map((name) => ({ name, url: `https://git.example.com/acme/${name}` })),
    silentLogger(),
  );
  open.push(real);
  return real;
}

describe('background passes over sources', () => {
  it('coalesces waiting requests into one pass over every source they asked for', async () => {
    const { control, passes } = setup();
    control.requestSync({ by: 'schedule', source: 'a' }, ['a']);
    // The first pass runs; these wait, and become one.
    control.requestSync({ by: 'schedule', source: 'b' }, ['b']);
    control.requestSync({ by: 'webhook:github', source: 'c', commit: 'c0ffee' }, ['c']);
    control.requestSync({ by: 'schedule', source: 'b' }, ['b']);
    await control.idle();
    expect(passes).toEqual([
      { trigger: { by: 'schedule', source: 'a' }, sources: ['a'] },
      { trigger: { by: 'schedule', source: 'b' }, sources: ['b', 'c'] },
    ]);
  });

  it('widens a waiting pass to every source when one request asks for all', async () => {
    const { control, passes } = setup();
    control.requestSync({ by: 'schedule' }, ['a']);
    control.requestSync({ by: 'webhook:github' }, ['b']);
    control.requestSync({ by: 'retry' });
    control.requestSync({ by: 'schedule' }, ['c']);
    await control.idle();
    expect(passes).toEqual([
      { trigger: { by: 'schedule' }, sources: ['a'] },
      { trigger: { by: 'schedule' } },
    ]);
  });

  it('reports each source synced by a pass to effects', async () => {
    const { control, effects, sources } = setup();
    sources[1]!.failing = 'unreachable';
    control.requestSync({ by: 'startup' });
    await control.idle();
    expect(effects.sourceStatus().map((s) => [s.name, s.ok])).toEqual([
      ['a', true],
      ['b', false],
      ['c', true],
    ]);
  });
});
