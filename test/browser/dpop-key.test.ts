// @vitest-environment node
// The DPoP key store (src/dpop/key-store.ts) in a real Chromium: the only place where IndexedDB
// exists (Node has none, so the unit and integration tests only ever see the memory fallback).
// Everything goes through the public API of the BUILT SDK: a `createStepUp({ dpop: true,
// storage: 'session' })` client made in the harness page, a real popup sign-in at the real OP
// (popup blocker on, real clicks) and real requests to the real API, which verifies the proofs.
//
// The API is called directly, not through the harness's recording proxy: the proxy rewrites the
// Host header, so a proof's htu (the proxy's URL) could never match what the API checks.
// What went over the wire is read from Chromium's own view of the requests (Authorization and
// DPoP headers), and what is stored is read from IndexedDB by page script, as any script of the
// origin could.
import { Buffer } from 'node:buffer'
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { BrowserContext, ConsoleMessage, Page, Request } from 'playwright-core'
import { beforeAll, expect, it } from 'vitest'
import { ACR_1FA } from '../../servers/op.js'
import { BROWSER_TIMEOUT, describeBrowser, gesture, signInAtOp, useHarness, waitForLog, type Harness } from './harness.js'

/** The sign-ins and the race below take a few popups each: room for a loaded 2-core machine. */
const TEST_TIMEOUT = 3 * BROWSER_TIMEOUT
const DB_NAME = 'stepup-fetch'
const STORE = 'dpop-keys'

/** A request to the API or the token endpoint, as Chromium sent it. */
interface Sent {
  url: string
  method: string
  page: Page | undefined
  headers: Promise<Record<string, string>>
}

/** One record of the key store, as page script sees it. */
interface StoredKey {
  id: string
  jkt: string
  fields: string[]
  privateKey: { type: string; extractable: boolean; usages: string[]; algorithm: { name: string; namedCurve?: string } }
  publicKey: { type: string; extractable: boolean }
  /** The error name exportKey('pkcs8' / 'jwk') rejected with, or 'exported' when it did not reject. */
  pkcs8: string
  privateJwk: string
  publicJwk: JWK
  /** The stored private key signs, the stored public key verifies: they are one pair. */
  pairVerifies: boolean
}

interface KeyStoreView {
  exists: boolean
  stores: string[]
  records: StoredKey[]
}

declare global {
  interface Window {
    __dpop?: import('../../src/index.js').StepUp
    __keyBarrier?: () => Promise<number>
    __generateKeyCalls?: number
  }
}

const decodeJson = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>

/** The proof's JOSE header and claims (the API verified its signature; we read what it says). */
function readProof(proof: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header, claims] = proof.split('.')
  return { header: decodeJson(header!), claims: decodeJson(claims!) }
}

/** The claims of a JWT access token (verified by the API; read here for `cnf.jkt`). */
const tokenClaims = (token: string): Record<string, unknown> => decodeJson(token.split('.')[1]!)

/** RFC 7638 thumbprint of the proof's embedded key, computed by jose (not by the SDK's code). */
async function proofThumbprint(proof: string): Promise<string> {
  const jwk = readProof(proof).header.jwk as JWK
  return calculateJwkThumbprint(jwk, 'sha256')
}

describeBrowser('DPoP key in IndexedDB in Chromium (storage: session, real OP and API)', () => {
  let h: Harness
  let context: BrowserContext
  /** Requests to the API (not preflights), in the order Chromium sent them. */
  let apiSent: Sent[]
  /** POSTs to the OP's token endpoint. */
  let tokenSent: Sent[]
  /** Authorization requests at the OP. */
  let authorizations: string[]
  let warnings: string[]
  let pageErrors: Error[]

  const ctx = useHarness()
  beforeAll(() => ({ h } = ctx))

  async function newContext(): Promise<void> {
    context = await ctx.newContext()
    apiSent = []
    tokenSent = []
    authorizations = []
    warnings = []
    pageErrors = []
    context.on('request', (r: Request) => {
      const record = (): Sent => ({ url: r.url(), method: r.method(), page: r.frame()?.page(), headers: r.allHeaders() })
      if (r.url().startsWith(`${h.api.url}/`) && r.method() !== 'OPTIONS') apiSent.push(record())
      if (r.url() === h.tokenEndpoint && r.method() === 'POST') tokenSent.push(record())
      if (r.url().startsWith(`${h.authorizationEndpoint}?`)) authorizations.push(r.url())
    })
  }

  /** An app page of the harness (popup mode: its own client does nothing until clicked). */
  async function openPage(): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(e))
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'warning' || m.type() === 'error') warnings.push(m.text())
    })
    await page.goto(h.appUrl('popup'))
    await waitForLog(page, 'ready:popup')
    return page
  }

  /**
   * Create the DPoP client in `page` from the built SDK (dist/index.js, as the harness serves it)
   * and a "Sign in with DPoP" button whose click calls its authorize(). With `barrier`, the
   * page's WebCrypto generateKey first waits until every page of the context has reached it:
   * both pages then have read "no key" from IndexedDB before either stores its own.
   */
  async function installClient(page: Page, options: { barrier?: boolean } = {}): Promise<void> {
    // A string, not a function: vitest would rewrite import() inside a function it transforms.
    await page.evaluate(`(async ({ api, barrier }) => {
      if (barrier) {
        const subtle = crypto.subtle
        const generateKey = subtle.generateKey.bind(subtle)
        window.__generateKeyCalls = 0
        subtle.generateKey = async (...args) => {
          window.__generateKeyCalls++
          await window.__keyBarrier()
          return generateKey(...args)
        }
      }
      const { createStepUp } = await import('/dist/index.js')
      const config = window.__config
      const client = createStepUp({
        issuer: config.issuer,
        clientId: config.clientId,
        redirectUri: config.redirectUri,
        protect: [api],
        interaction: 'popup',
        storage: 'session',
        dpop: true,
      })
      window.__dpop = client
      const log = (line) => window.__log.push({ line, at: Date.now() })
      const button = document.createElement('button')
      button.id = 'dpop-login'
      button.textContent = 'Sign in with DPoP'
      document.body.prepend(button)
      button.addEventListener('click', () => {
        client.authorize().then(() => log('dpop-login:ok'), (error) => log('dpop-login:error:' + (error && (error.code || error.name)) + ': ' + (error && error.message)))
      })
    })(${JSON.stringify({ api: h.api.url, barrier: options.barrier ?? false })})`)
  }

  /** Click "Sign in with DPoP" for real, sign in at the OP in the popup, wait for the popup to close. */
  async function signInPopup(page: Page): Promise<void> {
    const opened = context.waitForEvent('page', { timeout: 20_000 })
    await gesture(page, '#dpop-login')
    const popup = await opened
    const closed = new Promise<void>((resolve) => (popup.isClosed() ? resolve() : popup.once('close', () => resolve())))
    await signInAtOp(popup)
    await closed
  }

  /** Wait for the page's sign-in to settle; it must have succeeded. */
  async function signedIn(page: Page): Promise<void> {
    const entry = await waitForLog(page, /^dpop-login:/, 45_000)
    expect(entry.line).toBe('dpop-login:ok')
    expect(await page.evaluate(() => window.__dpop!.getState())).toMatchObject({ authenticated: true, sub: 'alice', acr: ACR_1FA })
  }

  /** GET /api/balance with the DPoP client of `page`. */
  const balance = (page: Page) =>
    page.evaluate(async (api) => {
      const res = await window.__dpop!.fetch(`${api}/api/balance`)
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }, h.api.url)

  /** The Authorization and DPoP headers of a request Chromium sent to the API. */
  async function dpopHeaders(sent: Sent): Promise<{ scheme: string; token: string; proof: string }> {
    const headers = await sent.headers
    const [scheme = '', token = ''] = (headers.authorization ?? '').split(' ')
    return { scheme, token, proof: headers.dpop ?? '' }
  }

  /** The key store, read by page script of the origin (never creating the database itself). */
  const readKeyStore = (page: Page): Promise<KeyStoreView> =>
    page.evaluate(
      async ({ dbName, store }) => {
        // Opening a database that does not exist would create it, empty: look first.
        if (!(await indexedDB.databases()).some((d) => d.name === dbName)) return { exists: false, stores: [], records: [] }
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const open = indexedDB.open(dbName)
          open.onsuccess = () => resolve(open.result)
          open.onerror = () => reject(open.error)
        })
        try {
          const stores = [...db.objectStoreNames]
          if (!stores.includes(store)) return { exists: true, stores, records: [] }
          const all = await new Promise<Array<{ id: string; jkt: string; privateKey: CryptoKey; publicKey: CryptoKey }>>((resolve, reject) => {
            const read = db.transaction(store, 'readonly').objectStore(store).getAll()
            read.onsuccess = () => resolve(read.result)
            read.onerror = () => reject(read.error)
          })
          const rejection = (p: Promise<unknown>): Promise<string> => p.then(() => 'exported', (e: unknown) => (e as DOMException).name)
          const records = await Promise.all(
            all.map(async (r) => {
              const data = new TextEncoder().encode('stepup-fetch dpop-key test')
              const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, r.privateKey, data)
              return {
                id: r.id,
                jkt: r.jkt,
                fields: Object.keys(r).sort(),
                privateKey: {
                  type: r.privateKey.type,
                  extractable: r.privateKey.extractable,
                  usages: [...r.privateKey.usages].sort(),
                  algorithm: r.privateKey.algorithm as { name: string; namedCurve?: string },
                },
                publicKey: { type: r.publicKey.type, extractable: r.publicKey.extractable },
                pkcs8: await rejection(crypto.subtle.exportKey('pkcs8', r.privateKey)),
                privateJwk: await rejection(crypto.subtle.exportKey('jwk', r.privateKey)),
                publicJwk: await crypto.subtle.exportKey('jwk', r.publicKey),
                pairVerifies: await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, r.publicKey, signature, data),
              }
            }),
          )
          return { exists: true, stores, records }
        } finally {
          db.close()
        }
      },
      { dbName: DB_NAME, store: STORE },
    ) as Promise<KeyStoreView>

  /** The record's id: the client's issuer and client id, as the SDK keys it. */
  const recordId = (): string => `${new URL(h.op.issuer).href} ${h.op.clientId}`

  /** Exactly one record, for this client, holding a non-extractable ES256 pair whose thumbprint is its jkt. */
  async function expectOneSoundRecord(page: Page): Promise<StoredKey> {
    const view = await readKeyStore(page)
    expect(view.exists).toBe(true)
    expect(view.stores).toEqual([STORE])
    expect(view.records).toHaveLength(1)
    const record = view.records[0]!
    expect(record.id).toBe(recordId())
    expect(record.fields).toEqual(['id', 'jkt', 'privateKey', 'publicKey'])
    expect(record.privateKey).toEqual({ type: 'private', extractable: false, usages: ['sign'], algorithm: { name: 'ECDSA', namedCurve: 'P-256' } })
    expect(record.publicKey.type).toBe('public')
    // Non-extractable: script of the origin can sign with it, never read it out.
    expect(record.pkcs8).toBe('InvalidAccessError')
    expect(record.privateJwk).toBe('InvalidAccessError')
    expect(record.publicJwk).not.toHaveProperty('d')
    expect(record.pairVerifies).toBe(true)
    expect(await calculateJwkThumbprint(record.publicJwk, 'sha256')).toBe(record.jkt)
    return record
  }

  /** No page error, and no warning that the SDK fell back to a key in memory. */
  function expectNoFallback(): void {
    expect(pageErrors.map(String)).toEqual([])
    expect(warnings.filter((w) => w.includes('stepup-fetch'))).toEqual([])
  }

  it('a DPoP sign-in binds the token to a non-extractable key stored in IndexedDB, and the API accepts its proofs', async () => {
    await newContext()
    const page = await openPage()
    await installClient(page)
    // Nothing is stored before the key is needed.
    expect((await readKeyStore(page)).records).toEqual([])

    await signInPopup(page)
    await signedIn(page)
    expect(authorizations).toHaveLength(1)

    const res = await balance(page)
    expect(res).toMatchObject({ status: 200, body: { sub: 'alice', acr: ACR_1FA } })
    // The API verified the token, the proof and the binding, and saw the DPoP scheme.
    expect(h.api.requests.filter((r) => r.path === '/api/balance').map((r) => [r.scheme, r.status, r.sub, r.error])).toEqual([['DPoP', 200, 'alice', undefined]])

    expect(apiSent.map((s) => [s.method, new URL(s.url).pathname])).toEqual([['GET', '/api/balance']])
    const sent = await dpopHeaders(apiSent[0]!)
    expect(sent.scheme).toBe('DPoP')
    const { header, claims } = readProof(sent.proof)
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } })
    expect(header.jwk).not.toHaveProperty('d')
    expect(claims).toMatchObject({ htm: 'GET', htu: `${h.api.url}/api/balance` })
    const jkt = await proofThumbprint(sent.proof)
    expect((tokenClaims(sent.token).cnf as { jkt?: string } | undefined)?.jkt).toBe(jkt)

    // The code exchange was proved with the same key.
    expect(tokenSent).toHaveLength(1)
    const tokenProof = (await tokenSent[0]!.headers).dpop ?? ''
    expect(readProof(tokenProof).claims).toMatchObject({ htm: 'POST', htu: h.tokenEndpoint })
    expect(await proofThumbprint(tokenProof)).toBe(jkt)

    // ... and that key is the one in IndexedDB.
    const record = await expectOneSoundRecord(page)
    expect(record.jkt).toBe(jkt)
    expectNoFallback()
  }, TEST_TIMEOUT)

  it('a "stepup-fetch" database that exists without the key store (something opened it first) gets the store, and the key is kept', async () => {
    await newContext()
    const page = await openPage()
    // An empty version-1 database, as indexedDB.open(name) without an upgrade leaves it.
    await page.evaluate(`new Promise((resolve, reject) => { const o = indexedDB.open('${DB_NAME}'); o.onsuccess = () => (o.result.close(), resolve()); o.onerror = () => reject(o.error) })`)
    await installClient(page)
    await signInPopup(page)
    await signedIn(page)
    expect((await balance(page)).status).toBe(200)
    const sent = await dpopHeaders(apiSent[0]!)
    expect((await expectOneSoundRecord(page)).jkt).toBe(await proofThumbprint(sent.proof))
    expectNoFallback()
  }, TEST_TIMEOUT)

  it('after a reload, a new client in the same tab restores the session token and proves with the stored key (no new sign-in)', async () => {
    await newContext()
    const page = await openPage()
    await installClient(page)
    await signInPopup(page)
    await signedIn(page)
    expect((await balance(page)).status).toBe(200)
    const first = await dpopHeaders(apiSent.at(-1)!)
    const jkt = await proofThumbprint(first.proof)
    const logins = h.op.logins.length
    const signIns = authorizations.length
    const exchanges = tokenSent.length
    expect([logins, signIns, exchanges]).toEqual([1, 1, 1])

    await page.reload()
    await waitForLog(page, 'ready:popup')
    expect(await page.evaluate(() => window.__dpop)).toBeUndefined() // a fresh page: no client yet
    await installClient(page)
    // The token came back from sessionStorage; the key it is bound to, from IndexedDB.
    expect(await page.evaluate(() => window.__dpop!.getState())).toMatchObject({ authenticated: true, sub: 'alice' })

    const res = await balance(page)
    expect(res).toMatchObject({ status: 200, body: { sub: 'alice', acr: ACR_1FA } })
    const second = await dpopHeaders(apiSent.at(-1)!)
    expect(second.scheme).toBe('DPoP')
    expect(second.token).toBe(first.token) // the restored token, not a new one
    expect(second.proof).not.toBe(first.proof) // a fresh proof ...
    expect(await proofThumbprint(second.proof)).toBe(jkt) // ... by the same key
    expect(h.api.requests.filter((r) => r.path === '/api/balance').map((r) => [r.scheme, r.status])).toEqual([
      ['DPoP', 200],
      ['DPoP', 200],
    ])
    // No new sign-in, no new token at the OP.
    expect([h.op.logins.length, authorizations.length, tokenSent.length]).toEqual([logins, signIns, exchanges])
    expect(await page.evaluate(() => window.__dpop!.getState())).toMatchObject({ authenticated: true, status: 'idle' })

    const record = await expectOneSoundRecord(page)
    expect(record.jkt).toBe(jkt)
    expectNoFallback()
  }, TEST_TIMEOUT)

  it('two tabs that both find no key and create one at the same moment end with ONE stored key, used by both', async () => {
    await newContext()
    // Each page's generateKey waits here until both pages have called it: by then both have read
    // "no key" from IndexedDB, so both create a key and both try to store theirs.
    let arrived = 0
    let releaseAll!: () => void
    const allArrived = new Promise<void>((resolve) => (releaseAll = resolve))
    await context.exposeFunction('__keyBarrier', async () => {
      const n = ++arrived
      if (n === 2) releaseAll()
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        await Promise.race([allArrived, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the other tab never created a key')), 50_000)))])
      } finally {
        clearTimeout(timer)
      }
      return n
    })
    const a = await openPage()
    const b = await openPage()
    await installClient(a, { barrier: true })
    await installClient(b, { barrier: true })

    // A signs in; its code exchange waits for its key, i.e. for B to reach the same point.
    await signInPopup(a)
    await expect.poll(() => arrived, { timeout: 20_000 }).toBe(1)
    expect((await readKeyStore(a)).records).toEqual([])
    // A fresh OP session, so that B's popup shows the login page too (no SSO shortcut).
    await context.clearCookies()
    await signInPopup(b)
    await Promise.all([signedIn(a), signedIn(b)])

    // Both really created a key of their own (the race happened) ...
    expect(arrived).toBe(2)
    expect(await a.evaluate(() => window.__generateKeyCalls)).toBe(1)
    expect(await b.evaluate(() => window.__generateKeyCalls)).toBe(1)
    // ... and one of them was stored: both pages see the same single record.
    const record = await expectOneSoundRecord(a)
    expect((await readKeyStore(b)).records.map((r) => r.jkt)).toEqual([record.jkt])

    // Both code exchanges were proved with that key, so both tokens are bound to it.
    expect(tokenSent).toHaveLength(2)
    const exchangeKeys = await Promise.all(tokenSent.map(async (s) => proofThumbprint((await s.headers).dpop ?? '')))
    expect(exchangeKeys).toEqual([record.jkt, record.jkt])

    // And both pages' requests prove with it, and the API accepts them.
    expect(await balance(a)).toMatchObject({ status: 200, body: { sub: 'alice' } })
    expect(await balance(b)).toMatchObject({ status: 200, body: { sub: 'alice' } })
    expect(apiSent.map((s) => s.page)).toEqual([a, b])
    const proofs = await Promise.all(apiSent.map(dpopHeaders))
    expect(proofs.map((p) => p.scheme)).toEqual(['DPoP', 'DPoP'])
    expect(proofs[0]!.token).not.toBe(proofs[1]!.token) // two sign-ins, two tokens ...
    for (const p of proofs) {
      expect(await proofThumbprint(p.proof)).toBe(record.jkt) // ... one key
      expect((tokenClaims(p.token).cnf as { jkt?: string }).jkt).toBe(record.jkt)
    }
    expect(h.api.requests.filter((r) => r.path === '/api/balance').map((r) => [r.scheme, r.status])).toEqual([
      ['DPoP', 200],
      ['DPoP', 200],
    ])
    expectNoFallback()
  }, TEST_TIMEOUT)
})
