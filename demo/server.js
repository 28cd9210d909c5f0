// The demo: the real OP (servers/op.js), the real API (servers/api.js) and the SPA (demo/app)
// served by Vite from this repo's source, all on 127.0.0.1. `npm run demo` runs demo/start.js;
// the browser tests call startDemo() in-process with random ports.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer } from 'vite'
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
  /** @type {Record<string, string> | undefined} */
  let pageConfig
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

  // The SPA first: the OP must know its origin (redirect URI, CORS), and the page gets the OP's
  // and API's URLs from a virtual module that is only loaded once everything listens.
  const vite = await createServer({
    configFile: false,
    root: path.join(ROOT, 'demo/app'),
    logLevel: dev ? 'info' : 'silent',
    clearScreen: false,
    resolve: { alias: { 'stepup-fetch': path.join(ROOT, 'src/index.ts') } },
    // oauth4webapi is one ESM file: serve it as it is, so no pre-bundling step can reload the page.
    optimizeDeps: { noDiscovery: true, include: [] },
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
        resolveId: (id) => (id === CONFIG_MODULE ? `\0${CONFIG_MODULE}` : undefined),
        load: (id) => (id === `\0${CONFIG_MODULE}` ? `export default ${JSON.stringify(pageConfig)}` : undefined),
        configureServer(server) {
          server.middlewares.use('/__demo/scenario', (req, res) => {
            const reply = () => {
              res.setHeader('content-type', 'application/json')
              res.setHeader('cache-control', 'no-store')
              res.end(JSON.stringify(scenario))
            }
            if (req.method !== 'POST') return reply()
            let body = ''
            req.setEncoding('utf8')
            req.on('data', (chunk) => (body += chunk))
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
    const redirectUri = `${url}/callback.html`
    op = await startOp({ port: opPort, redirectUris: [redirectUri] })
    api = await startApi({ issuer: op.issuer, audience: op.resource, port: apiPort, allowOrigin: url })
    pageConfig = { issuer: op.issuer, clientId: op.clientId, redirectUri, api: api.url }
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
      },
    }
  } catch (error) {
    await Promise.allSettled([vite.close(), api?.close(), op?.close()])
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
