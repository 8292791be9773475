import { readdirSync } from 'node:fs';
import { loadProject } from './src/compose/load.js';
const dirs = [...readdirSync('test/compat/corpus').map(d => `test/compat/corpus/${d}`), ...readdirSync('examples/stacks').map(d => `examples/stacks/${d}`)];
for (const d of dirs) {
  try { const r = await loadProject(d, { projectName: 'x' }); if (r.warnings.length) console.log(d, r.warnings); }
  catch (e) { console.log(d, (e as Error).message); }
}
