import { it } from 'vitest';
import { Harness, composeFile } from '/work/main/test/reconciler/harness.js';
it('timing', async () => {
  const h = await Harness.create();
  try {
    const s = h.name('t');
    await h.writeStack(s, composeFile({ web: {}, db: {} }));
    h.commit('x');
    const r = h.open();
    const t0 = Date.now();
    const log = (e: { stack?: string; step: string }) => console.log(Date.now() - t0, e.step);
    await r.reconcileOnce({ onProgress: log });
    await h.writeStack(s, composeFile({ web: { marker: 'v2' }, db: {} }));
    h.commit('y');
    await r.reconcileOnce({ onProgress: log });
    console.log(Date.now() - t0, 'end');
  } finally { await h.cleanup(); }
}, 120000);
