// Runs the real-browser suite on its own:
//   npx vitest run --config test/browser/vitest.browser.config.ts
// (Debian's Chromium at /usr/bin/chromium; skipped with a hint when it is missing, fails on CI.)
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    name: 'browser',
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})
