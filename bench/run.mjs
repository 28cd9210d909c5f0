// npm run bench [-- --smoke]: compiles bench/bench.ts (it reuses the tests' browser-less login,
// written in TypeScript) with esbuild into bench/.out/, then runs it with --expose-gc so heap
// numbers start from a collected heap. The SDK under test is the built dist/ (run `npm run build`).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
if (!existsSync(join(here, '../dist/index.js'))) {
  console.error('dist/ is missing: run `npm run build` first (npm run bench does)')
  process.exit(1)
}
const outfile = join(here, '.out/bench.mjs')
await esbuild.build({
  entryPoints: [join(here, 'bench.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile,
  logLevel: 'warning',
})
const run = spawnSync(process.execPath, ['--expose-gc', outfile, ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(run.status ?? 1)
