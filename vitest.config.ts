import { defineConfig } from 'vitest/config';

/** Tests that boot real QEMU guests end in `.vm.test.ts`; they run one file at a time (2 cores). */
const VM_TESTS = '**/*.vm.test.ts';
const BROWSER_TESTS = '**/*.browser.test.ts';

export default defineConfig({
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'shared',
          include: ['packages/shared/src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'engine',
          include: ['packages/engine/src/**/*.test.ts'],
          exclude: [VM_TESTS, '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'server',
          include: ['apps/server/src/**/*.test.ts', 'apps/server/test/**/*.test.ts'],
          exclude: [VM_TESTS, BROWSER_TESTS, '**/node_modules/**'],
          globalSetup: ['apps/server/test/setup/postgres-cluster.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'vm',
          include: [VM_TESTS, BROWSER_TESTS],
          exclude: ['**/node_modules/**'],
          globalSetup: ['apps/server/test/setup/postgres-cluster.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
