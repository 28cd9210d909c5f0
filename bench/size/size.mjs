// npm run size: bundle each entry in bench/size/entries the way an app would (esbuild, ESM,
// minified, browser) and gzip it (level 9). Our entries are checked against budgets.json.
//
//   node bench/size/size.mjs                 our entries and the other SDKs, one table
//   node bench/size/size.mjs --budget-only   our entries only (no install), exit 1 above a budget
//   node bench/size/size.mjs --profile       also list the bytes each module adds to the core entry
//
// Our entries import 'stepup-fetch' and its subpaths, resolved through package.json "exports"
// to the built dist/ (run `npm run build` first), exactly what an app gets from npm. A subpath
// that package.json does not export yet is skipped with a note.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '../..')
const bench = join(root, 'bench')
const entries = join(here, 'entries')
const args = new Set(process.argv.slice(2))
const budgetOnly = args.has('--budget-only')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const budgets = JSON.parse(readFileSync(join(here, 'budgets.json'), 'utf8'))

/** Our entries: the core, and each adapter measured as what it adds to the core (frameworks external). */
const ours = [
  { name: 'core', subpath: '.', label: 'stepup-fetch' },
  { name: 'ky', subpath: './ky', label: 'stepup-fetch/ky', external: ['ky'] },
  { name: 'react', subpath: './react', label: 'stepup-fetch/react', external: ['react', 'react-dom', 'react/jsx-runtime'] },
  { name: 'vue', subpath: './vue', label: 'stepup-fetch/vue', external: ['vue'] },
]
/** The SDKs an app would pick instead (bench/package.json, pinned). */
const others = [
  { name: 'oidc-client-ts', pkg: 'oidc-client-ts', flow: 'popup' },
  { name: 'auth0-spa-js', pkg: '@auth0/auth0-spa-js', flow: 'popup' },
  { name: 'msal-browser', pkg: '@azure/msal-browser', flow: 'popup' },
  { name: 'okta-auth-js', pkg: '@okta/okta-auth-js', flow: 'popup' },
  { name: 'keycloak-js', pkg: 'keycloak-js', flow: 'redirect only' },
]

/** Resolve 'stepup-fetch' and 'stepup-fetch/x' through our package.json "exports", to dist/. */
const selfByExports = (fromSource) => ({
  name: 'stepup-fetch-exports',
  setup(build) {
    build.onResolve({ filter: /^stepup-fetch(\/.*)?$/ }, ({ path }) => {
      const subpath = `.${path.slice('stepup-fetch'.length)}`
      // --profile reads the TypeScript sources (dist/ is one file per entry), src/index.ts for '.'.
      const target = fromSource ? `src/${subpath === '.' ? 'index' : `${subpath.slice(2)}/index`}.ts` : exported(subpath)
      if (!target) return { errors: [{ text: `package.json "exports" has no ${JSON.stringify(subpath)}` }] }
      return { path: join(root, target) }
    })
  },
})

function exported(subpath) {
  const entry = pkg.exports?.[subpath]
  if (entry === undefined) return undefined
  return typeof entry === 'string' ? entry : (entry.import ?? entry.default)
}

async function measure(entry, { external = [], nodePaths = [], fromSource = false } = {}) {
  // Code splitting on, as Vite, Rollup and webpack apps build: code that a library loads with
  // import() (stepup-fetch's DPoP and tab sharing, only when their option is on) lands in chunks
  // the page fetches on demand. "First load" is the entry chunk plus what it imports statically.
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    define: { 'process.env.NODE_ENV': '"production"' },
    external,
    nodePaths,
    plugins: [selfByExports(fromSource)],
    write: false,
    metafile: true,
    outdir: 'out',
    logLevel: 'silent',
  })
  const { outputs } = result.metafile
  const files = new Map(result.outputFiles.map((file) => [relative(process.cwd(), file.path), file.contents]))
  const entryOut = Object.keys(outputs).find((path) => outputs[path].entryPoint)
  const first = new Set()
  const visit = (path) => {
    if (first.has(path)) return
    first.add(path)
    for (const { path: next, kind } of outputs[path].imports) if (kind === 'import-statement' && outputs[next]) visit(next)
  }
  visit(entryOut)
  // The first load is gzipped as one stream (the app's entry and the chunk esbuild split off
  // for code the lazy chunks share are one bundle without splitting); each lazy chunk alone.
  const bytes = (paths) => paths.map((path) => files.get(path))
  const first_ = bytes([...first])
  const lazy = bytes(Object.keys(outputs).filter((path) => path.endsWith('.js') && !first.has(path)))
  return {
    min: first_.reduce((n, code) => n + code.length, 0),
    gz: gzipSync(Buffer.concat(first_), { level: 9 }).length,
    lazy: { gz: lazy.reduce((n, code) => n + gzipSync(code, { level: 9 }).length, 0) },
    metafile: result.metafile,
    first: [...first],
  }
}

const kb = (bytes) => `${(bytes / 1000).toFixed(1)} KB`
const rows = []
const notes = []
let failed = false

if (!existsSync(join(root, exported('.') ?? 'dist/index.js'))) {
  console.error('dist/ is missing: run `npm run build` first (npm run size does)')
  process.exit(1)
}

let core
for (const entry of ours) {
  if (!exported(entry.subpath)) {
    notes.push(`${entry.label}: skipped, package.json "exports" has no "${entry.subpath}" yet`)
    continue
  }
  const size = await measure(join(entries, `${entry.name}.js`), { external: entry.external })
  if (entry.name === 'core') core = size
  // An adapter's own bytes: the core entry plus the adapter, minus the core entry alone.
  const own = entry.name === 'core' ? size : { min: size.min - core.min, gz: size.gz - core.gz, lazy: { gz: size.lazy.gz - core.lazy.gz } }
  const budget = budgets[entry.name]
  const over = budget !== undefined && own.gz > budget
  if (over) failed = true
  rows.push({
    label: entry.name === 'core' ? `${entry.label} (no runtime dependencies)` : `${entry.label} (adds to the core)`,
    version: pkg.version,
    flow: 'popup, redirect, custom',
    ...own,
    budget: budget === undefined ? '' : `${over ? 'OVER ' : ''}${kb(budget)}`,
  })
}

if (!budgetOnly) {
  if (!others.every((o) => existsSync(join(bench, 'node_modules', o.pkg, 'package.json')))) {
    console.log('installing the other SDKs into bench/node_modules (npm ci --prefix bench)...')
    execFileSync('npm', ['ci', '--prefix', bench, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' })
  }
  for (const other of others) {
    const version = JSON.parse(readFileSync(join(bench, 'node_modules', other.pkg, 'package.json'), 'utf8')).version
    const size = await measure(join(entries, `${other.name}.js`), { nodePaths: [join(bench, 'node_modules')] })
    rows.push({ label: other.pkg, version, flow: other.flow, ...size, budget: '' })
  }
}

const header = ['entry (an app that signs in with a popup, asks for an acr, calls an API)', 'version', 'flows', 'min', 'min+gz', 'on demand (min+gz)', 'budget (min+gz)']
const table = [header, ...rows.map((r) => [r.label, r.version, r.flow, `${r.min} B`, `${r.gz} B (${kb(r.gz)})`, r.lazy.gz ? `${r.lazy.gz} B` : '', r.budget])]
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)))
const line = (row) => `| ${row.map((cell, i) => (i >= 3 && i <= 5 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join(' | ')} |`
console.log(line(header))
console.log(`|${widths.map((w, i) => (i >= 3 && i <= 5 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`)
for (const row of table.slice(1)) console.log(line(row))
for (const note of notes) console.log(`note: ${note}`)
console.log('1 KB = 1000 bytes; gzip level 9; esbuild --bundle --splitting --minify --format=esm --platform=browser')
console.log('min and min+gz: first load (the entry chunk and its static imports, gzipped together); on demand: chunks loaded by import(), each gzipped alone')

if (args.has('--profile') && core) {
  console.log('\nbytes each module adds to the core entry (minified, before gzip):')
  const { metafile, min, gz, first } = await measure(join(entries, 'core.js'), { fromSource: true })
  console.log(`(from src/: ${min} B min, ${gz} B min+gz)`)
  // Every module of the first load, whichever chunk esbuild put it in.
  const inputs = {}
  for (const path of first) for (const [file, { bytesInOutput }] of Object.entries(metafile.outputs[path].inputs)) inputs[file] = (inputs[file] ?? 0) + bytesInOutput
  for (const [file, bytes] of Object.entries(inputs).sort((a, b) => b[1] - a[1])) {
    if (bytes > 0) console.log(`${String(bytes).padStart(7)}  ${relative(root, file)}`)
  }
}

if (failed) {
  console.error('\nsize: an entry is over its budget (bench/size/budgets.json); see the table above')
  process.exit(1)
}
console.log('\nsize: our entries are within their budgets (bench/size/budgets.json)')
