import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/dist/**', 'test/browser/**', 'test/vue/**'],
          environment: 'node',
        },
      },
      {
        // stepup-fetch/react with @testing-library/react, and stepup-fetch/vue with @vue/test-utils.
        extends: true,
        test: {
          name: 'adapters',
          include: ['test/react/**/*.test.tsx', 'test/vue/**/*.test.ts'],
          environment: 'happy-dom',
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/dist/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        // Real Chromium (Debian's /usr/bin/chromium) against the real OP and API; see test/browser/harness.ts.
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
