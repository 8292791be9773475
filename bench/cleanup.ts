import type { ContainerEngine } from '../src/engine/types.js';

/**
 * Brings down every berth project whose name starts with `<prefix>-`, a few at a time:
 * the daemon is shared with whatever else runs on the machine. Failures are reported, not thrown,
 * so one stuck project does not leave the rest behind.
 */
export async function downProjectsWithPrefix(
  engine: ContainerEngine,
  prefix: string,
): Promise<void> {
  const projects = await engine.observeAll();
  const mine = [...projects.keys()].filter((name) => name.startsWith(`${prefix}-`));
  for (let i = 0; i < mine.length; i += 8) {
    await Promise.all(
      mine.slice(i, i + 8).map((name) =>
        engine.down(name).catch((err: unknown) => {
          console.error(`cleanup: down ${name} failed: ${String(err)}`);
        }),
      ),
    );
  }
}
