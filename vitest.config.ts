import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores; Docker does most of the waiting, so two files at a time keep it busy.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts'],
          environment: 'node',
          globalSetup: ['test/helpers/build-setup.ts'],
          // A guard against hangs, not a speed target: CI machines run several files at once.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          environment: 'node',
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
