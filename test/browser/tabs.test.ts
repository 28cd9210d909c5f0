// @vitest-environment node
// Tabs that share a step-up (docs/decisions/0005-tabs.md) in a real Chromium (popup blocker on):
// two pages of one origin in ONE browser context, against the real OP and API. A's clicks are
// real input events; B starts its requests from page script without a user gesture.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { beforeAll, expect, it } from 'vitest'
import { ACR_2FA } from '../../servers/op.js'
import { BROWSER_TIMEOUT, describeBrowser, gesture, logLines, ROOT, signInAtOp, useHarness, waitForLog, type Harness } from './harness.js'

/** The chunk that the core loads with import() for shareAcrossTabs: true (the DPoP chunk is another). */
function tabsChunk(): string {
  const dist = process.env.STEPUP_DIST ?? path.join(ROOT, 'dist')
  const lazy = readdirSync(dist)
    .filter((file) => file.endsWith('.js'))
    .flatMap((file) => [...readFileSync(path.join(dist, file), 'utf8').matchAll(/import\('\.\/([^']+\.js)'\)/g)].map((m) => m[1]!))
  const found = lazy.find((file) => readFileSync(path.join(dist, file), 'utf8').includes('stepup-fetch:tabs:'))
  if (!found) throw new Error('dist/ loads no chunk with import() that holds the tab sharing: is it built as a separate chunk?')
  return found
}
/** Whether `page` downloaded the tab-sharing chunk. */
const loadedTabsChunk = (page: Page) => page.evaluate((chunk) => performance.getEntriesByType('resource').some((e) => e.name.endsWith(`/dist/${chunk}`)), tabsChunk())

declare global {
  interface Window {
    __heard?: unknown[]
    __config: { issuer: string; clientId: string }
  }
}

describeBrowser('tabs sharing a step-up in Chromium (two pages, one context)', () => {
  let h: Harness
  let context: BrowserContext
  let pages: Page[]
  let popups: Page[]
  let authorizations: URL[]
  let pageErrors: Error[]

  const ctx = useHarness()
  beforeAll(() => ({ h } = ctx))

  /** A fresh context (one origin's storage), recording the authorization requests made in it. */
  async function newContext(): Promise<void> {
    context = await ctx.newContext()
    pages = []
    popups = []
    authorizations = []
    pageErrors = []
    context.on('request', (r) => {
      if (r.url().startsWith(`${h.authorizationEndpoint}?`)) authorizations.push(new URL(r.url()))
    })
  }

  /** A new context with `count` app pages (`share=1` unless `share` is false), each ready. */
  async function openTabs(count: number, share = true): Promise<Page[]> {
    await newContext()
    for (let i = 0; i < count; i++) pages.push(await openPage(share))
    // Only now: the app pages themselves are not popups.
    context.on('page', (p) => popups.push(p))
    return pages
  }

  async function openPage(share = true, mode: 'popup' | 'redirect' = 'popup'): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(e))
    await page.goto(`${h.appUrl(mode)}${share ? '&share=1' : ''}`)
    await waitForLog(page, `ready:${mode}`)
    return page
  }

  /** The channel of this app's client, as the SDK names it. */
  const channelName = (page: Page) => page.evaluate(() => `stepup-fetch:tabs:${new URL(window.__config.issuer).href} ${window.__config.clientId}`)

  /** Record every message on `name` in `page` (a test-only listener, like any page script's). */
  async function listen(page: Page, name: string): Promise<void> {
    await page.evaluate((n) => {
      window.__heard = []
      new BroadcastChannel(n).onmessage = (event: MessageEvent) => window.__heard!.push(event.data)
    }, name)
  }
  const heard = (page: Page) => page.evaluate(() => window.__heard ?? [])
  const stateOf = (page: Page) => page.evaluate(() => window.__stepUp.getState())

  async function clickForPopup(page: Page, selector: string): Promise<{ popup: Page; closed: Promise<void> }> {
    const opened = context.waitForEvent('page', { timeout: 10_000 })
    await gesture(page, selector)
    const popup = await opened
    const closed = new Promise<void>((resolve) => (popup.isClosed() ? resolve() : popup.once('close', () => resolve())))
    return { popup, closed }
  }

  async function signIn(page: Page): Promise<void> {
    const { popup, closed } = await clickForPopup(page, '#login')
    await signInAtOp(popup)
    await closed
    await waitForLog(page, 'login:ok')
  }

  /** Click #transfer from page script, polled in-page: no user activation is granted. */
  async function transferWithoutGesture(page: Page): Promise<void> {
    await page.waitForFunction(() => {
      document.getElementById('transfer')!.click()
      return true
    })
  }

  const stepUpAuthorizations = () => authorizations.filter((url) => url.searchParams.get('acr_values') === ACR_2FA)
  const transferStatuses = () => h.hits('/api/transfer').map((r) => r.status)
  const authenticated = (page: Page) => page.waitForFunction(() => window.__stepUp.getState().authenticated, undefined, { timeout: 5000, polling: 25 })

  it('tab B, waiting on the challenge while tab A\'s popup step-up runs, retries with A\'s token: one authorization at the OP, B succeeds without a popup', async () => {
    const [a, b] = await openTabs(2)
    await listen(b!, await channelName(b!))
    await signIn(a!)
    await authenticated(b!) // A's sign-in reached B
    expect(await stateOf(b!)).toMatchObject({ authenticated: true, sub: 'alice' })

    const { popup, closed } = await clickForPopup(a!, '#transfer')
    await popup.locator('#otp-code').waitFor({ state: 'visible' })
    // B's request starts while A's flow is in progress, and is challenged too.
    await transferWithoutGesture(b!)
    await expect.poll(() => transferStatuses(), { timeout: 10_000 }).toEqual([401, 401])
    expect(await stateOf(b!)).toMatchObject({ status: 'authorizing' })
    await signInAtOp(popup, { otp: true })
    await closed
    await waitForLog(a!, 'transfer:200')
    await waitForLog(b!, 'transfer:200')

    expect(stepUpAuthorizations()).toHaveLength(1)
    expect(popups).toHaveLength(2) // A's sign-in and A's step-up; B never opened one
    expect(transferStatuses()).toEqual([401, 401, 200, 200])
    expect(h.api.requests.filter((r) => r.path === '/api/transfer' && r.status === 200).map((r) => r.acr)).toEqual([ACR_2FA, ACR_2FA])
    expect(await logLines(b!)).toEqual(['ready:popup', 'transfer:200'])
    expect(await stateOf(b!)).toMatchObject({ acr: ACR_2FA, amr: ['pwd', 'otp'] })
    expect((await heard(b!)).map((m) => (m as { type: string }).type)).toContain('token')
    expect(await loadedTabsChunk(b!)).toBe(true)

    // A tab opened now is signed in by the open tabs (hello), without a popup.
    const c = await openPage()
    await authenticated(c)
    expect(await stateOf(c)).toMatchObject({ sub: 'alice' })
    expect(popups.filter((p) => p !== c)).toHaveLength(2)
    expect(pageErrors).toEqual([])
  }, BROWSER_TIMEOUT)

  it('redirect mode: tab B, challenged while tab A is at the OP, waits for the token A brings back instead of leaving for the OP itself', async () => {
    await newContext()
    const a = await openPage(true, 'redirect')
    await gesture(a, '#login')
    await a.waitForURL((url) => url.origin === h.op.issuer)
    await signInAtOp(a)
    await a.waitForURL((url) => url.href.startsWith(h.appUrl('redirect')), { timeout: 15_000 })
    await waitForLog(a, 'ready:redirect')
    const b = await openPage(true, 'redirect')
    await authenticated(b) // A answered B's hello

    await gesture(a, '#transfer')
    await a.waitForURL((url) => url.origin === h.op.issuer) // A's page, and its lock, are gone
    await a.locator('#otp-code').waitFor({ state: 'visible' })
    await transferWithoutGesture(b)
    await expect.poll(() => transferStatuses(), { timeout: 10_000 }).toEqual([401, 401])
    await b.waitForTimeout(1000)
    // Without the notice, B would take the lock A's unload released and leave for the OP too.
    expect(new URL(b.url()).origin).not.toBe(h.op.issuer)
    expect(await stateOf(b)).toMatchObject({ status: 'authorizing' })
    expect(stepUpAuthorizations()).toHaveLength(1)

    await signInAtOp(a, { otp: true })
    await waitForLog(b, 'transfer:200') // with the token A's callback page shared
    await a.waitForURL((url) => url.href.startsWith(h.appUrl('redirect')), { timeout: 15_000 })
    await waitForLog(a, 'resume:200')
    expect(stepUpAuthorizations()).toHaveLength(1)
    expect(transferStatuses()).toEqual([401, 401, 200, 200])
    expect(pageErrors).toEqual([])
  }, BROWSER_TIMEOUT)

  it('both tabs hit the challenge at the same moment: one flow between them (Web Locks), both succeed; logout() then signs out both', async () => {
    const [a, b] = await openTabs(2)
    await signIn(a!)
    await authenticated(b!)
    const before = popups.length

    const opened = context.waitForEvent('page', { timeout: 10_000 })
    // Both at once, each with user activation (Playwright's evaluate grants it): whoever gets the lock opens the popup.
    await Promise.all([a!, b!].map((page) => page.evaluate(() => document.getElementById('transfer')!.click())))
    const popup = await opened
    await signInAtOp(popup, { otp: true })
    await waitForLog(a!, 'transfer:200')
    await waitForLog(b!, 'transfer:200')
    expect(stepUpAuthorizations()).toHaveLength(1)
    expect(popups.length - before).toBe(1)
    expect(transferStatuses().sort()).toEqual([200, 200, 401, 401])

    await a!.evaluate(() => window.__stepUp.logout())
    await b!.waitForFunction(() => !window.__stepUp.getState().authenticated, undefined, { timeout: 5000, polling: 25 })
    expect(pageErrors).toEqual([])
  }, BROWSER_TIMEOUT)

  it('with sharing off, nothing is broadcast: B stays signed out and a listener on the channel hears nothing', async () => {
    const [a, b] = await openTabs(2, false)
    const name = await channelName(b!)
    await listen(b!, name)
    await signIn(a!)
    const { popup, closed } = await clickForPopup(a!, '#transfer')
    await signInAtOp(popup, { otp: true })
    await closed
    await waitForLog(a!, 'transfer:200')
    await a!.evaluate(() => window.__stepUp.logout())
    await b!.waitForTimeout(300)
    expect(await heard(b!)).toEqual([])
    expect(await stateOf(b!)).toMatchObject({ authenticated: false })
    // Nor did either page download the tab-sharing code.
    expect(await loadedTabsChunk(a!)).toBe(false)
    expect(await loadedTabsChunk(b!)).toBe(false)
  }, BROWSER_TIMEOUT)

  it('a token on another app\'s channel, on the popup hand-off channel, or posted from another origin is not taken; the same one on this client\'s channel is', async () => {
    const [a, b] = await openTabs(2)
    const name = await channelName(b!)
    const token = { accessToken: 'forged', tokenType: 'Bearer', idToken: '', sub: 'mallory', obtainedAt: Date.now(), expiresAt: Date.now() + 600_000 }
    const message = { v: 1, type: 'token', token }
    // Same origin, other names: another client of the same OP, another OP, the popup channel.
    await a!.evaluate(
      ({ n, m }) => {
        for (const other of [`${n}-other`, n.replace(/ [^ ]+$/, ' another-client'), 'stepup-fetch:tabs:https://op.example/ ' + n.split(' ').pop(), 'stepup-fetch']) new BroadcastChannel(other).postMessage(m)
      },
      { n: name, m: message },
    )
    // Another origin, the exact name: BroadcastChannel never crosses origins.
    const foreign = await context.newPage()
    await foreign.goto(`${h.foreignOrigin}/forge.html`)
    await foreign.evaluate(({ n, m }) => new BroadcastChannel(n).postMessage(m), { n: name, m: message })
    await b!.waitForTimeout(300)
    expect(await stateOf(b!)).toMatchObject({ authenticated: false })

    // The control: the same message on this client's channel, from this origin, is taken.
    await a!.evaluate(({ n, m }) => new BroadcastChannel(n).postMessage(m), { n: name, m: message })
    await authenticated(b!)
    expect(await stateOf(b!)).toMatchObject({ sub: 'mallory' })
    expect(pageErrors).toEqual([])
  }, BROWSER_TIMEOUT)

  it('malformed channel messages are ignored without errors, and the channel keeps working', async () => {
    const [a, b] = await openTabs(2)
    const name = await channelName(b!)
    await a!.evaluate((n) => {
      const channel = new BroadcastChannel(n)
      const junk: unknown[] = [null, 'token', 7, [], {}, { v: 1 }, { v: 2, type: 'logout' }, { v: 1, type: 'token' }, { v: 1, type: 'token', token: { accessToken: 1 } },
        { v: 1, type: 'token', token: { accessToken: 'x', tokenType: 'Bearer', idToken: '', sub: 's', obtainedAt: 'now' } }, { v: 1, type: 'tokens', tokens: {} }, new Blob(['x']), new Map()]
      for (const message of junk) channel.postMessage(message)
    }, name)
    await b!.waitForTimeout(300)
    expect(await stateOf(b!)).toMatchObject({ authenticated: false })
    await signIn(a!)
    await authenticated(b!)
    expect(pageErrors).toEqual([])
  }, BROWSER_TIMEOUT)
})
