import { describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/types.js';
import { labelGraph, projectGraph, walkServices } from '../../src/engine/walk.js';
import { ComposeError, EngineError } from '../../src/errors.js';
import { project, service } from './fixtures.js';

const started = { condition: 'service_started' as const, required: true, restart: false };

/** db <- api <- web, and cache on its own. */
const graph = new Map([
  ['db', []],
  ['cache', []],
  ['api', ['db']],
  ['web', ['api', 'cache']],
]);

function tick(ms = 5): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Records when each visit starts and ends, so orderings can be asserted. */
function recorder(delays: Record<string, number> = {}): {
  log: string[];
  visit: (name: string) => Promise<string>;
} {
  const log: string[] = [];
  return {
    log,
    async visit(name) {
      log.push(`+${name}`);
      await tick(delays[name] ?? 5);
      log.push(`-${name}`);
      return name.toUpperCase();
    },
  };
}

function before(log: string[], a: string, b: string): boolean {
  return log.indexOf(a) < log.indexOf(b);
}

describe('walkServices', () => {
  it('visits dependencies first and independent services in parallel', async () => {
    const { log, visit } = recorder();
    const results = await walkServices(graph, visit);
    expect(results).toEqual(
      new Map([
        ['db', 'DB'],
        ['cache', 'CACHE'],
        ['api', 'API'],
        ['web', 'WEB'],
      ]),
    );
    expect(log.slice(0, 2).sort()).toEqual(['+cache', '+db']);
    expect(before(log, '-db', '+api')).toBe(true);
    expect(before(log, '-api', '+web')).toBe(true);
    expect(before(log, '-cache', '+web')).toBe(true);
  });

  it('starts a service as soon as its own dependencies are done, not a whole level', async () => {
    const { log, visit } = recorder({ cache: 60 });
    await walkServices(graph, visit);
    // api waits for db only, not for the slow cache beside it.
    expect(before(log, '+api', '-cache')).toBe(true);
    expect(before(log, '-cache', '+web')).toBe(true);
  });

  it('visits dependents first in stop order', async () => {
    const { log, visit } = recorder();
    await walkServices(graph, visit, { order: 'stop' });
    expect(log.slice(0, 1)).toEqual(['+web']);
    expect(before(log, '-web', '+api')).toBe(true);
    expect(before(log, '-web', '+cache')).toBe(true);
    expect(before(log, '-api', '+db')).toBe(true);
  });

  it('visits only the services asked for; the others count as done', async () => {
    const { log, visit } = recorder();
    const results = await walkServices(graph, visit, { only: new Set(['web', 'db']) });
    expect([...results.keys()].sort()).toEqual(['db', 'web']);
    expect(log).not.toContain('+api');
  });

  it('starts nothing after a failure, lets running visits finish and throws the first', async () => {
    const log: string[] = [];
    const failing = walkServices(graph, async (name) => {
      log.push(`+${name}`);
      await tick(name === 'cache' ? 30 : 5);
      if (name === 'db') throw new Error('db failed');
      log.push(`-${name}`);
    });
    await expect(failing).rejects.toThrow('db failed');
    // cache was running when db failed: it finished before the walk gave up.
    expect(log).toEqual(expect.arrayContaining(['+db', '+cache', '-cache']));
    expect(log).not.toContain('+api');
    expect(log).not.toContain('+web');
  });

  it('ignores dependencies outside the graph and refuses a cycle', async () => {
    const { visit } = recorder();
    const results = await walkServices(new Map([['a', ['elsewhere']]]), visit);
    expect([...results.keys()]).toEqual(['a']);
    const cycle = new Map([
      ['a', ['b']],
      ['b', ['a']],
      ['c', []],
    ]);
    await expect(walkServices(cycle, visit)).rejects.toThrow(EngineError);
    await expect(walkServices(cycle, visit)).rejects.toThrow(/cycle between services a, b/);
  });
});

describe('dependency graphs', () => {
  it('of a project: depends_on and service: references; a cycle is refused up front', () => {
    const p = project('p', [
      service('db'),
      service('api', { dependsOn: { db: started }, links: ['cache'] }),
      service('cache'),
    ]);
    expect(projectGraph(p)).toEqual(
      new Map([
        ['db', []],
        ['api', ['db', 'cache']],
        ['cache', []],
      ]),
    );
    const cyclic = project('p', [
      service('a', { dependsOn: { b: started } }),
      service('b', { dependsOn: { a: started } }),
    ]);
    expect(() => projectGraph(cyclic)).toThrow(ComposeError);
  });

  it("of running containers: Compose's depends_on label, one node per service", () => {
    const labels = (name: string, deps = ''): Record<string, string> => ({
      [LABEL.service]: name,
      [LABEL.dependsOn]: deps,
    });
    expect(
      labelGraph([
        labels('web', 'api:service_healthy:false,cache:service_started:true'),
        labels('web', 'api:service_healthy:false'),
        labels('api', 'db:service_started:false'),
        labels('db'),
        { [LABEL.project]: 'p' },
      ]),
    ).toEqual(
      new Map([
        ['web', ['api', 'cache']],
        ['api', ['db']],
        ['db', []],
        ['', []],
      ]),
    );
  });
});
