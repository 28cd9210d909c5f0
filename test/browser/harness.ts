// Real-browser harness: Debian's Chromium (playwright-core), the real OP (oidc-provider) and the
// real API (jose), and a tiny static app that loads the BUILT SDK (dist/index.js) as it is: no
// import map, so a bare import in dist (a runtime dependency) fails every test. Everything listens
// on 127.0.0.1 on random ports.
//
// Servers (all on 127.0.0.1):
//   app      the test page (/index.html?mode=popup|redirect[&share=1]), /callback.html, /dist/*
//   op       servers/op.js, redirect_uris = [<app>/callback.html]
//   api      servers/api.js (allowOrigin = app origin, WWW-Authenticate exposed)
//   apiTap   a transparent recording proxy in front of the API: the page talks to it, so the
//            test sees every request body the API received (api.requests has no bodies)
//   foreign  another origin, for forged postMessage tests (/forge.html)
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe } from 'vitest'
import { startApi, type RunningApi } from '../../servers/api.js'
import { startOp, type RunningOp } from '../../servers/op.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const HERE = fileURLToPath(new URL('./', import.meta.url))
/** Debian's Chromium; CHROMIUM_PATH=<file> for another Chromium build. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Per-test and per-hook timeout, passed explicitly so the files also pass in a project without one. */
export const BROWSER_TIMEOUT = 60_000

/** Flags from /work/shared/STACK.md ("Browsers"). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

// --- skip / fail when there is no browser ---------------------------------------------------
const hasChromium = existsSync(CHROMIUM_PATH)
const onCi = !['', '0', 'false'].includes((process.env.CI ?? '').toLowerCase())
if (!hasChromium && onCi) {
  throw new Error(`browser tests: ${CHROMIUM_PATH} is missing on CI; install it with: apt-get update && apt-get install -y chromium`)
}
if (!hasChromium) {
  console.warn(`[browser tests] SKIPPED: ${CHROMIUM_PATH} not found. Install it with: apt-get update && apt-get install -y chromium`)
}
/** `describe` when Chromium is installed, `describe.skip` (with a warning) otherwise. */
export const describeBrowser: typeof describe = hasChromium ? describe : (describe.skip as typeof describe)

/**
 * Chromium with the popup blocker ON (Playwright turns it off by default).
 * @param options.popupBlocker keep Chromium's popup blocker (default true)
 */
export async function launchChromium(options: { popupBlocker?: boolean } = {}): Promise<Browser> {
  const popupBlocker = options.popupBlocker ?? true
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    ignoreDefaultArgs: popupBlocker ? ['--disable-popup-blocking'] : [],
    args: CHROMIUM_ARGS,
  })
}

// --- the built SDK ----------------------------------------------------------------------------
/** The built SDK; STEPUP_DIST=<dir> serves another build (e.g. of uncommitted source) instead. */
const DIST = path.resolve(process.env.STEPUP_DIST ?? path.join(ROOT, 'dist'))

function checkDist(): void {
  const built = path.join(DIST, 'index.js')
  if (!existsSync(built)) throw new Error(`browser tests load ${built}: run \`npm run build\` (npx rollup -c) first`)
  const builtAt = statSync(built).mtimeMs
  const newer: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (statSync(full).mtimeMs > builtAt) newer.push(path.relative(ROOT, full))
    }
  }
  walk(path.join(ROOT, 'src'))
  if (newer.length) console.warn(`[browser tests] ${path.relative(ROOT, built)} is older than ${newer.join(', ')}: run \`npm run build\` to test the current source`)
}

// --- pages ------------------------------------------------------------------------------------
interface PageConfig {
  issuer: string
  clientId: string
  redirectUri: string
  api: string
}

function indexHtml(config: PageConfig): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>stepup-fetch browser test</title>
<style>body{font:14px system-ui;margin:16px} button{display:block;width:220px;height:36px;margin:6px 0} pre{border:1px solid #ccc;padding:6px;min-height:3em}</style>
</head><body>
<h1>stepup-fetch test app</h1>
<button id="login">Sign in</button>
<button id="transfer">Transfer 5 EUR</button>
<button id="transfer-later">Transfer 5 EUR in 7 s</button>
<button id="verify">Verify it's you</button>
<pre id="log"></pre>
<script>window.__config = ${JSON.stringify(config)}; window.__log = [];</script>
<script type="module">
import { createStepUp } from '/dist/index.js'
const config = window.__config
const mode = new URLSearchParams(location.search).get('mode') === 'redirect' ? 'redirect' : 'popup'
const stepUp = createStepUp({
  issuer: config.issuer,
  clientId: config.clientId,
  redirectUri: config.redirectUri,
  protect: [config.api],
  interaction: mode,
  storage: 'session',
  shareAcrossTabs: new URLSearchParams(location.search).get('share') === '1',
})
// The callback page of this tab shares when the app page does (same options on every page).
// (Only then: other tests check that nothing else is left in sessionStorage.)
if (new URLSearchParams(location.search).get('share') === '1') sessionStorage.setItem('stepup-test:share', '1')
else sessionStorage.removeItem('stepup-test:share')
window.__stepUp = stepUp
window.__responses = []
const logEl = document.getElementById('log')
function log(line) {
  window.__log.push({ line, at: Date.now() })
  logEl.textContent += line + '\\n'
}
let lastError
function fail(error) {
  lastError = error
  window.__lastError = { code: error && error.code, message: String(error && error.message), opError: error && error.opError, challenge: error && error.challenge }
  log('error:' + ((error && (error.code || error.name)) || 'unknown'))
}
const transferInit = () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount: 5 }) })
async function transfer() {
  const res = await stepUp.fetch(config.api + '/api/transfer', transferInit())
  window.__responses.push({ status: res.status, body: await res.text() })
  log('transfer:' + res.status)
}
// Test-only observer: lets a test know a callback message from ANOTHER origin reached this
// window (registered before the SDK's listener, so the SDK has judged it once this line shows).
window.addEventListener('message', (event) => {
  if (event.origin !== location.origin && event.data && event.data.type === 'stepup-fetch:callback') log('message-seen:' + event.origin)
})
document.getElementById('login').addEventListener('click', () => {
  stepUp.authorize().then(() => log('login:ok'), fail)
})
document.getElementById('transfer').addEventListener('click', () => {
  transfer().catch(fail)
})
document.getElementById('transfer-later').addEventListener('click', () => {
  // No user activation is left after 7 s (Chromium keeps it ~5 s).
  setTimeout(() => { log('transfer-later:fired'); transfer().catch(fail) }, 7000)
})
document.getElementById('verify').addEventListener('click', () => {
  const challenge = lastError && lastError.challenge
  if (!challenge) { log('verify:no-challenge'); return }
  const params = { acrValues: challenge.acrValues }
  if (challenge.maxAge !== undefined) params.maxAge = challenge.maxAge
  stepUp.authorize(params).then(() => { log('verify:ok'); return transfer() }).catch(fail)
})
if (mode === 'redirect') {
  try {
    const res = await stepUp.resume()
    if (res) {
      window.__responses.push({ status: res.status, body: await res.text() })
      log('resume:' + res.status)
    } else {
      const last = stepUp.getState().lastResume
      log('resume:none:' + (last && last.reason))
    }
  } catch (error) {
    fail(error)
  }
}
log('ready:' + mode)
</script>
</body></html>`
}

function callbackHtml(config: PageConfig): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>callback</title>
</head><body>
<p id="status">handling the callback…</p>
<script>window.__config = ${JSON.stringify(config)};</script>
<script type="module">
import { createStepUp } from '/dist/index.js'
const config = window.__config
const stepUp = createStepUp({
  issuer: config.issuer,
  clientId: config.clientId,
  redirectUri: config.redirectUri,
  protect: [config.api],
  storage: 'session',
  shareAcrossTabs: sessionStorage.getItem('stepup-test:share') === '1',
})
const status = document.getElementById('status')
try {
  const result = await stepUp.handleCallback()
  status.textContent = 'callback:' + result.mode
  if (result.mode === 'redirect') location.replace(result.returnTo || '/index.html?mode=redirect')
} catch (error) {
  status.textContent = 'callback-error:' + (error && (error.code || error.name))
}
</script>
</body></html>`
}

/** On the foreign origin: post a forged callback to `window.opener`, with any target origin. */
const FORGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>forger</title></head><body>
<p id="status">forging…</p>
<script>
const url = new URLSearchParams(location.search).get('url')
let status = 'no-opener'
if (window.opener) {
  window.opener.postMessage({ type: 'stepup-fetch:callback', url }, '*')
  status = 'posted'
}
document.getElementById('status').textContent = status
</script>
</body></html>`

// --- servers ----------------------------------------------------------------------------------
async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function closeServer(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(body)
}

function staticApp(getConfig: () => PageConfig): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const p = url.pathname
    if (p === '/' || p === '/index.html') return send(res, 200, 'text/html; charset=utf-8', indexHtml(getConfig()))
    if (p === '/callback.html') return send(res, 200, 'text/html; charset=utf-8', callbackHtml(getConfig()))
    if (p.startsWith('/dist/')) {
      const file = path.join(DIST, path.normalize(p.slice('/dist/'.length)))
      if (file.startsWith(DIST + path.sep) && existsSync(file) && statSync(file).isFile()) {
        const type = file.endsWith('.js') ? 'text/javascript; charset=utf-8' : file.endsWith('.map') ? 'application/json' : 'text/plain'
        return send(res, 200, type, readFileSync(file))
      }
    }
    if (p === '/favicon.ico') return send(res, 204, 'text/plain', '')
    send(res, 404, 'text/plain', 'not found')
  })
}

/** What the API received, as seen by the recording proxy in front of it. */
export interface TappedRequest {
  method: string
  path: string
  body: string
  authorization: boolean
  status: number
}

function apiTap(target: string, requests: TappedRequest[]): http.Server {
  const targetUrl = new URL(target)
  return http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const record: TappedRequest | undefined =
        req.method === 'OPTIONS'
          ? undefined
          : { method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://x').pathname, body: body.toString(), authorization: req.headers.authorization !== undefined, status: 0 }
      if (record) requests.push(record)
      const upstream = http.request(
        { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: { ...req.headers, host: targetUrl.host } },
        (up) => {
          if (record) record.status = up.statusCode ?? 0
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        },
      )
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502)
        res.end()
      })
      upstream.end(body)
    })
  })
}

/** Another origin whose `/forge.html?url=…` posts a forged callback message to its opener. */
export async function startForeignOrigin(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname
    if (p === '/forge.html') return send(res, 200, 'text/html; charset=utf-8', FORGE_HTML)
    send(res, 404, 'text/plain', 'not found')
  })
  return { origin: await listen(server), close: () => closeServer(server) }
}

export interface Harness {
  op: RunningOp
  api: RunningApi
  /** Origin of the test page. */
  appOrigin: string
  /** The test page in `mode`. */
  appUrl(mode: 'popup' | 'redirect'): string
  redirectUri: string
  /** The API URL the page uses (the recording proxy). */
  apiUrl: string
  /** Every request the API received through the proxy, bodies included. */
  tapped: TappedRequest[]
  /** Tapped requests to `path`. */
  hits(path: string): TappedRequest[]
  /** Another origin: `/forge.html?url=…` posts a forged callback to its opener. */
  foreignOrigin: string
  authorizationEndpoint: string
  tokenEndpoint: string
  /** Forget the recorded requests and OP knobs (call between tests). */
  reset(): void
  close(): Promise<void>
}

export async function startHarness(): Promise<Harness> {
  checkDist()
  let config: PageConfig | undefined
  const app = staticApp(() => config!)
  const appOrigin = await listen(app)
  const redirectUri = `${appOrigin}/callback.html`
  const op = await startOp({ redirectUris: [redirectUri] })
  const api = await startApi({ issuer: op.issuer, audience: op.resource, allowOrigin: appOrigin, exposeWwwAuthenticate: true })
  const tapped: TappedRequest[] = []
  const tap = apiTap(api.url, tapped)
  const apiUrl = await listen(tap)
  const foreign = await startForeignOrigin()
  const foreignOrigin = foreign.origin
  config = { issuer: op.issuer, clientId: op.clientId, redirectUri, api: apiUrl }
  const discovery = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as {
    authorization_endpoint: string
    token_endpoint: string
  }
  return {
    op,
    api,
    appOrigin,
    appUrl: (mode) => `${appOrigin}/index.html?mode=${mode}`,
    redirectUri,
    apiUrl,
    tapped,
    hits: (p) => tapped.filter((r) => r.path === p),
    foreignOrigin,
    authorizationEndpoint: discovery.authorization_endpoint,
    tokenEndpoint: discovery.token_endpoint,
    reset() {
      tapped.length = 0
      api.resetRequests()
      op.resetKnobs()
    },
    async close() {
      await Promise.allSettled([closeServer(app), closeServer(tap), foreign.close()])
      await api.close()
      await op.close()
    },
  }
}

// --- page helpers -----------------------------------------------------------------------------
export interface LogEntry {
  line: string
  at: number
}

declare global {
  interface Window {
    __log: LogEntry[]
    __stepUp: import('../../src/index.js').StepUp
    __responses: Array<{ status: number; body: string }>
    __lastError?: { code?: string; message: string; opError?: string }
  }
}

/**
 * A real click: mouse down/up at the centre of the element, through the input pipeline, so the
 * page gets exactly the user activation a person's click gives (STACK.md: `page.click()` does not).
 */
export async function gesture(page: Page, selector: string): Promise<void> {
  const locator = page.locator(selector)
  await locator.waitFor({ state: 'visible' })
  await locator.scrollIntoViewIfNeeded()
  const box = await locator.boundingBox()
  if (!box) throw new Error(`${selector} has no bounding box`)
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
}

/** The page's log lines. */
export async function logLines(page: Page): Promise<string[]> {
  return page.evaluate(() => window.__log.map((entry) => entry.line))
}

/** Wait until the page logs a line matching `pattern`; resolves with that entry. */
export async function waitForLog(page: Page, pattern: string | RegExp, timeout = 20_000): Promise<LogEntry> {
  const source = typeof pattern === 'string' ? { exact: pattern } : { regex: pattern.source, flags: pattern.flags }
  const handle = await page.waitForFunction(
    (p: { exact?: string; regex?: string; flags?: string }) => {
      const re = p.regex === undefined ? undefined : new RegExp(p.regex, p.flags)
      const test = (l: string): boolean => (re ? re.test(l) : l === p.exact)
      return (window.__log ?? []).find((entry) => test(entry.line)) ?? false
    },
    source,
    { timeout, polling: 25 },
  )
  return (await handle.jsonValue()) as LogEntry
}

/** Fill in the OP login page (password, and the one-time code when the page shows one) and submit. */
export async function signInAtOp(page: Page, options: { otp?: boolean } = {}): Promise<void> {
  await page.locator('#password').waitFor({ state: 'visible' })
  await page.locator('#password').fill('password')
  if (options.otp) {
    const code = (await page.locator('#otp-code').textContent())?.trim() ?? ''
    if (!/^\d{6}$/.test(code)) throw new Error(`no one-time code on the OP page (got ${JSON.stringify(code)})`)
    await page.locator('#otp').fill(code)
  }
  await page.locator('#submit').click()
}

/**
 * Inside a describeBrowser block: start the harness and Chromium (popup blocker on) once for the
 * block, close both after it. Read `ctx.h` and `ctx.browser` inside tests and hooks. Contexts
 * made with `ctx.newContext()` are closed after each test, and the harness's records reset.
 */
export function useHarness(): { h: Harness; browser: Browser; newContext(): Promise<BrowserContext> } {
  const contexts: BrowserContext[] = []
  const ctx = {
    async newContext() {
      const context = await ctx.browser.newContext()
      contexts.push(context)
      return context
    },
  } as { h: Harness; browser: Browser; newContext(): Promise<BrowserContext> }
  beforeAll(async () => {
    ;[ctx.h, ctx.browser] = await Promise.all([startHarness(), launchChromium({ popupBlocker: true })])
  }, BROWSER_TIMEOUT)
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()))
    ctx.h?.reset()
  }, BROWSER_TIMEOUT)
  afterAll(async () => {
    await ctx.browser?.close()
    await ctx.h?.close()
  }, BROWSER_TIMEOUT)
  return ctx
}
