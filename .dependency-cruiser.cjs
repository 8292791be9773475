// @ts-check
/**
 * berth's architecture as rules: `npx depcruise src` (part of `npm run lint`) refuses an
 * import that goes up a layer, a cycle, and Docker or git clients outside their adapters.
 * An import may go to its own layer or a lower one.
 */

/** Layers from the top down; each is a regex over paths. */
const LAYERS = [
  { name: 'entry', path: '^src/(cli|daemon)/|^src/main\\.ts$' },
  { name: 'configuration', path: '^src/config/' },
  { name: 'control', path: '^src/(control|server)/' },
  { name: 'orchestration', path: '^src/reconciler/' },
  { name: 'strategies', path: '^src/strategies/' },
  { name: 'domain', path: '^src/(plan|stack|source|secrets|policy)/' },
  { name: 'adapters', path: '^src/(engine|state|hooks|notify|compose)/' },
  // Every file directly in src/ but main.ts: errors, logging, clock, durations...
  { name: 'base', path: '^src/(?!main\\.ts$)[^/]+$' },
];

/** One rule per layer: nothing in it imports any layer above it. */
const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${layer.name}-upward`,
  comment: `${layer.name} may import only its own layer and those below it (${LAYERS.slice(i + 2)
    .map((l) => l.name)
    .join(', ')})`,
  severity: /** @type {const} */ ('error'),
  from: { path: layer.path },
  to: {
    path: LAYERS.slice(0, i + 1)
      .map((l) => `(${l.path})`)
      .join('|'),
  },
}));

/** A package only `folder` may import (its types included). */
function onlyIn(name, folder) {
  return {
    name: `only-${folder.replace(/^src\/|\/$/g, '')}-imports-${name}`,
    comment: `Only ${folder} may import ${name}: go through its interface instead.`,
    severity: /** @type {const} */ ('error'),
    from: { path: '^src/', pathNot: `^${folder}` },
    to: { path: `(^|/)node_modules/(@types/)?${name}/` },
  };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle makes the modules in it one module; cut it at an interface.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...upward,
    onlyIn('dockerode', 'src/engine/'),
    {
      name: 'no-test-or-bench-from-src',
      comment: 'Shipped code must not depend on tests or benchmarks.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a layer that needs another's types depends on it all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.json'],
      // Subpath imports (hono/streaming) resolve through package.json `exports`.
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
