// The demo: the real OP (servers/op.js), the real API (servers/api.js) and the SPA (demo/app)
// served by Vite from this repo's source, all on 127.0.0.1. `npm run demo` runs demo/start.js;
// the browser tests call startDemo() in-process with random ports.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, createServer } from 'vite'
import { ACR_1FA, startOp } from '../servers/op.js'
import { startApi } from '../servers/api.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CONFIG_MODULE = 'virtual:demo-config'

/**
 * What a visitor can switch on from the page's "Try what can go wrong" panel, and the tests too.
 * @typedef {object} Scenario
 * @property {boolean} opIgnoresAcr the OP treats acr_values as a hint: every login ends at 1fa
 * @property {boolean} apiHidesHeader the API does not expose WWW-Authenticate over CORS
 * @property {boolean} apiSendsJsonBody the API repeats the challenge as a JSON body
 */

/** @type {Scenario} */
const DEFAULT_SCENARIO = { opIgnoresAcr: false, apiHidesHeader: false, apiSendsJsonBody: true }

/**
 * Start the OP, the API and the SPA.
 * @param {import('./server.d.ts').DemoOptions} [options]
 * @returns {Promise<import('./server.d.ts').RunningDemo>}
 */
export async function startDemo(options = {}) {
  const { port = 0, opPort = 0, apiPort = 0, dev = false } = options
  /** @type {Scenario} */
  let scenario = { ...DEFAULT_SCENARIO }
  /** @type {Awaited<ReturnType<typeof startOp>> | undefined} */
  let op
  /** @type {Awaited<ReturnType<typeof startApi>> | undefined} */
  let api

  /** @param {Partial<Scenario>} changes */
  function setScenario(changes) {
    scenario = { ...scenario, ...pick(changes) }
    op?.setLoginAcr(scenario.opIgnoresAcr ? ACR_1FA : null)
    api?.configure({ exposeWwwAuthenticate: !scenario.apiHidesHeader, jsonBodyChallenge: scenario.apiSendsJsonBody })
    return scenario
  }

  /** @type {(config: Record<string, string>) => void} */
  let configured = () => {}
  /** The page's configuration, once the OP and the API listen. */
  const ready = new Promise((resolve) => (configured = resolve))
  let origin = ''
  const cacheDir = dev ? path.join(ROOT, 'node_modules/.vite-demo') : await mkdtemp(path.join(tmpdir(), 'stepup-demo-vite-'))
  const removeCache = () => (dev ? Promise.resolve() : rm(cacheDir, { recursive: true, force: true }))

  // The SPA first: the OP must know its origin (redirect URI, CORS), and the page gets the OP's
  // and API's URLs from a virtual module that waits until everything listens.
  const vite = await createServer({
    configFile: false,
    root: path.join(ROOT, 'demo/app'),
    customLogger: quietLogger(dev),
    clearScreen: false,
    // stepup-fetch and its adapters from source: one copy of the core for every page.
    resolve: {
      alias: [
        { find: /^stepup-fetch$/, replacement: path.join(ROOT, 'src/index.ts') },
        { find: /^stepup-fetch\/(react|vue|ky)$/, replacement: path.join(ROOT, 'src/$1/index.ts') },
      ],
    },
    // Every dependency is pre-bundled at start-up (none is discovered later), so no page reloads
    // half-way through a test; each server gets its own cache, so parallel ones do not collide.
    optimizeDeps: { noDiscovery: true, include: ['react', 'react/jsx-runtime', 'react/jsx-dev-runtime', 'react-dom/client', 'vue', 'ky'] },
    cacheDir,
    oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
    define: { __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' },
    server: {
      host: '127.0.0.1',
      port,
      strictPort: true,
      fs: { allow: [ROOT] },
      hmr: dev,
      watch: dev ? {} : null,
    },
    plugins: [
      {
        name: 'stepup-fetch-demo',
        // Every page has the same top bar, timeline and footer: <!-- demo:header --> and so on.
        transformIndexHtml: (html) => html.replace(/<!-- demo:(header|timeline|footer) -->/g, (_, name) => readFileSync(path.join(ROOT, 'demo/app/partials', `${name}.html`), 'utf8')),
        resolveId: (id) => (id === CONFIG_MODULE ? `\0${CONFIG_MODULE}` : undefined),
        load: async (id) => (id === `\0${CONFIG_MODULE}` ? `export default ${JSON.stringify(await ready)}` : undefined),
        configureServer(server) {
          // The OP knows one redirect URI and the API one CORS origin: http://127.0.0.1:<port>.
          // Send a visitor who typed localhost (or [::1]) there instead of into a broken sign-in.
          server.middlewares.use((req, res, next) => {
            if (!origin || req.headers.host === new URL(origin).host) return next()
            res.statusCode = 307
            res.setHeader('location', `${origin}${req.url ?? '/'}`)
            res.end()
          })
          server.middlewares.use('/__demo/scenario', (req, res) => {
            const reply = () => {
              res.setHeader('content-type', 'application/json')
              res.setHeader('cache-control', 'no-store')
              res.end(JSON.stringify(scenario))
            }
            if (req.method !== 'POST') return reply()
            // JSON only (a cross-site form or text/plain POST needs no preflight), 1 KiB at most.
            if (!String(req.headers['content-type']).startsWith('application/json')) {
              res.statusCode = 415
              return reply()
            }
            let body = ''
            req.setEncoding('utf8')
            req.on('data', (chunk) => {
              body += chunk
              if (body.length > 1024) req.destroy()
            })
            req.on('end', () => {
              try {
                setScenario(JSON.parse(body || '{}'))
              } catch {
                res.statusCode = 400
              }
              reply()
            })
          })
        },
      },
    ],
  })
  try {
    await vite.listen()
    const address = /** @type {import('node:net').AddressInfo} */ (vite.httpServer?.address())
    const url = `http://127.0.0.1:${address.port}`
    origin = url
    const redirectUri = `${url}/callback.html`
    op = await startOp({ port: opPort, redirectUris: [redirectUri] })
    api = await startApi({ issuer: op.issuer, audience: op.resource, port: apiPort, allowOrigin: url })
    configured({ issuer: op.issuer, clientId: op.clientId, redirectUri, api: api.url })
    const running = { url: `${url}/`, op, api }
    return {
      ...running,
      get scenario() {
        return scenario
      },
      setScenario,
      reset() {
        op?.resetKnobs()
        api?.resetRequests()
        setScenario(DEFAULT_SCENARIO)
      },
      async close() {
        await Promise.allSettled([vite.close(), api?.close(), op?.close()])
        await removeCache()
      },
    }
  } catch (error) {
    await Promise.allSettled([vite.close(), api?.close(), op?.close()])
    await removeCache()
    throw error
  }
}

/** @param {Record<string, unknown>} changes */
function pick(changes) {
  /** @type {Partial<Scenario>} */
  const out = {}
  for (const key of /** @type {(keyof Scenario)[]} */ (Object.keys(DEFAULT_SCENARIO))) {
    if (typeof changes[key] === 'boolean') out[key] = /** @type {boolean} */ (changes[key])
  }
  return out
}

/**
 * Vite's logger without the "Sourcemap for … points to missing source files" warnings that
 * pre-bundled dependencies' published source maps can cause on every start.
 * @param {boolean} dev
 */
function quietLogger(dev) {
  const logger = createLogger(dev ? 'info' : 'silent')
  for (const method of /** @type {const} */ (['warn', 'warnOnce'])) {
    const original = logger[method]
    logger[method] = (message, options) => {
      if (!message.includes('points to missing source files')) original(message, options)
    }
  }
  return logger
}
