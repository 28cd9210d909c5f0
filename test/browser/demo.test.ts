// @vitest-environment node
// The demo (`npm run demo`: demo/server.js) in a real Chromium with its popup blocker ON, driven
// the way a visitor uses it: real clicks on its buttons, the OP's login page, its switches.
// The SPA runs stepup-fetch from source through Vite; the OP and the API are the real ones.
import path from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { startDemo, type RunningDemo } from '../../demo/server.js'
import { ACR_1FA, ACR_2FA } from '../../servers/op.js'
import { BROWSER_TIMEOUT, HERE, describeBrowser, gesture, launchChromium, signInAtOp, startForeignOrigin } from './harness.js'

const SCREENSHOT = path.join(HERE, '__screenshots__', 'demo-step-up.png')

declare global {
  interface Window {
    /** Origins of messages from other origins that reached the app page (an init script records them). */
    __foreignMessages: string[]
  }
}

interface Shown {
  kind: string
  code: string | undefined
  title: string
  text: string
}

describeBrowser('the demo in Chromium (popup blocker on)', () => {
  let demo: RunningDemo
  let browser: Browser
  let foreign: { origin: string; close(): Promise<void> }
  let authorizationEndpoint: string
  let tokenEndpoint: string

  let context: BrowserContext
  let page: Page
  /** Windows the app opened (popups), in order. */
  let popups: Page[]
  /** The browser's requests to the OP's authorization endpoint. */
  let authorizations: URL[]
  let tokenRequests: number

  beforeAll(async () => {
    ;[demo, browser, foreign] = await Promise.all([startDemo(), launchChromium({ popupBlocker: true }), startForeignOrigin()])
    const metadata = (await (await fetch(`${demo.op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>
    authorizationEndpoint = metadata.authorization_endpoint!
    tokenEndpoint = metadata.token_endpoint!
  }, BROWSER_TIMEOUT)
  afterAll(async () => {
    await browser?.close()
    await Promise.allSettled([demo?.close(), foreign?.close()])
  }, BROWSER_TIMEOUT)
  afterEach(async () => {
    await context?.close()
    demo.reset()
  }, BROWSER_TIMEOUT)

  // --- driving the page ---------------------------------------------------------------------
  async function openDemo(mode: 'popup' | 'redirect', pagePath = ''): Promise<void> {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    popups = []
    authorizations = []
    tokenRequests = 0
    context.on('page', (p) => popups.push(p))
    context.on('request', (r) => {
      if (r.url().startsWith(`${authorizationEndpoint}?`)) authorizations.push(new URL(r.url()))
      if (r.url() === tokenEndpoint && r.method() === 'POST') tokenRequests++
    })
    await context.addInitScript(() => {
      window.__foreignMessages = []
      window.addEventListener('message', (event) => {
        if (event.origin !== location.origin) window.__foreignMessages.push(event.origin)
      })
    })
    page = await context.newPage()
    popups.length = 0 // the app's own page
    page.on('pageerror', (e) => console.error('[demo page error]', e))
    await page.goto(`${demo.url}${pagePath}`)
    await ready()
    // Real clicks only (gesture): Playwright's click() leaves a user activation that never expires.
    if (mode === 'redirect') await gesture(page, 'label:has(#mode-redirect)')
    if (!pagePath) expect(await page.locator(`#mode-${mode}`).isChecked()).toBe(true)
  }

  /** The app page finished loading (and its resume()). */
  async function ready(): Promise<void> {
    await page.locator('body[data-ready="true"]').waitFor({ timeout: 20_000 })
  }

  /** Click for real and resolve with the popup it opens, plus a promise of its close. */
  async function clickForPopup(selector: string): Promise<{ popup: Page; closed: Promise<void> }> {
    const opened = context.waitForEvent('page', { timeout: 10_000 })
    await gesture(page, selector)
    const popup = await opened
    return { popup, closed: new Promise<void>((resolve) => (popup.isClosed() ? resolve() : popup.once('close', () => resolve()))) }
  }

  async function signInWithPopup(): Promise<void> {
    const { popup, closed } = await clickForPopup('#sign-in')
    await signInAtOp(popup)
    await closed
    await expectSignedIn(ACR_1FA)
    popups.length = 0
  }

  async function signInWithRedirect(): Promise<void> {
    await gesture(page, '#sign-in')
    await page.waitForURL((url) => url.origin === demo.op.issuer)
    await signInAtOp(page)
    await page.waitForURL((url) => url.href.startsWith(demo.url) && !url.pathname.startsWith('/callback'))
    await ready()
    await expectSignedIn(ACR_1FA)
  }

  async function expectSignedIn(acr: string): Promise<void> {
    await expect.poll(() => page.locator('#sub').textContent()).toBe('alice')
    await expect.poll(() => page.locator('#acr').getAttribute('data-acr')).toBe(acr)
  }

  async function openScenarios(): Promise<void> {
    await gesture(page, '#scenarios summary')
  }

  /** Open the demo in popup mode, sign in, flip switches in "Try what can go wrong", and wait until the servers have them. */
  async function signedInWith(switches: Record<string, boolean>, expected: Partial<RunningDemo['scenario']>): Promise<void> {
    await openDemo('popup')
    await signInWithPopup()
    await openScenarios()
    for (const [id, on] of Object.entries(switches)) await page.locator(`#${id}`).setChecked(on)
    await expect.poll(() => demo.scenario).toMatchObject(expected)
  }

  /** Send money, complete the one-time-code login in the popup, and wait for it to close. */
  async function transferThroughPopup(): Promise<void> {
    const { popup, closed } = await clickForPopup('#transfer')
    await signInAtOp(popup, { otp: true })
    await closed
  }

  /** "What happened", as shown. */
  async function timeline(): Promise<Shown[]> {
    return page.locator('#timeline li').evaluateAll((items) =>
      items.map((li) => {
        const el = li as HTMLElement
        return { kind: el.dataset.kind ?? '', code: el.dataset.code, title: el.querySelector('.event-title')?.textContent ?? '', text: el.textContent ?? '' }
      }),
    )
  }

  /**
   * Wait for an error (or diagnostic) in the timeline. Polls INSIDE the page: every Playwright
   * evaluation (locator polling included) hands the page a user activation, which would let a
   * popup through that the browser must block.
   */
  async function waitForError(code: string, timeout = 15_000): Promise<Shown> {
    await page
      .waitForFunction((c) => document.querySelector(`#timeline li[data-code="${c}"]`) !== null, code, { timeout, polling: 50 })
      .catch(async (error: unknown) => {
        throw new Error(`no ${code} in the timeline: ${JSON.stringify((await timeline()).map((e) => e.text))}; popups: ${popups.length}`, { cause: error })
      })
    return (await timeline()).find((event) => event.code === code)!
  }

  async function transferResult(): Promise<{ status: string | null; text: string | null }> {
    const result = page.locator('#transfer-result')
    return { status: await result.getAttribute('data-status'), text: await result.textContent() }
  }

  const transfers = () => demo.api.requests.filter((r) => r.path === '/api/transfer').map((r) => [r.status, r.acr])
  const retries = async () => (await timeline()).filter((event) => event.title.startsWith('Retrying once'))

  /** The app and its popup side by side, for the README. */
  async function screenshotSideBySide(app: Page, popup: Page): Promise<void> {
    await app.evaluate(() => window.scrollTo(0, 0)) // the popup is open: a user activation no longer matters
    const [left, right] = await Promise.all([app.screenshot({ fullPage: true }), popup.screenshot()])
    const sheet = await (await browser.newContext({ viewport: { width: 1600, height: 800 } })).newPage()
    const img = (png: Buffer, width: number) => `<img src="data:image/png;base64,${png.toString('base64')}" style="width:${width}px;border-radius:10px;box-shadow:0 8px 30px rgb(0 0 0 / .18)">`
    await sheet.setContent(`<body style="margin:0;padding:28px;background:#d9dde6;display:flex;gap:28px;align-items:flex-start">${img(left, 1100)}${img(right, 420)}</body>`)
    await sheet.screenshot({ path: SCREENSHOT, fullPage: true })
    await sheet.context().close()
  }

  // --- the scenarios of issue 3 -------------------------------------------------------------
  it('popup: sign in, send money, the 2fa step-up happens in exactly one popup, and the transfer goes through once', async () => {
    await openDemo('popup')
    await signInWithPopup()

    const { popup, closed } = await clickForPopup('#transfer')
    await popup.locator('#otp-code').waitFor({ state: 'visible' })
    await expect.poll(() => page.locator('#pending').isVisible()).toBe(true)
    await popup.locator('#password').fill('password')
    await popup.locator('#otp').fill((await popup.locator('#otp-code').textContent())!.trim())
    await screenshotSideBySide(page, popup)
    await popup.locator('#submit').click()
    await closed

    await expect.poll(transferResult).toEqual({ status: '200', text: 'Sent 25 EUR to DE89 3704 0044 0532 0130 00.' })
    expect(popups).toHaveLength(1)
    const stepUp = authorizations.at(-1)!.searchParams
    expect([stepUp.get('acr_values'), stepUp.get('max_age'), stepUp.get('code_challenge_method')]).toEqual([ACR_2FA, '300', 'S256'])
    expect(transfers()).toEqual([
      [401, ACR_1FA],
      [200, ACR_2FA],
    ])
    await expectSignedIn(ACR_2FA)
    expect(await page.locator('#auth-time').textContent()).toMatch(/^\d{1,2}:\d{2}:\d{2}( [AP]M)? \(\d+ s ago\)$/)
    // The story the page tells, in order, from the challenge on.
    const kinds = (await timeline()).map((event) => `${event.kind}:${event.title}`)
    const fromChallenge = kinds.slice(kinds.findIndex((k) => k.startsWith('challenge:')))
    expect(fromChallenge).toEqual([
      'challenge:401: the API asks for a step-up',
      'step:Opening a popup to the OP for Password + one-time code',
      'step:Exchanging the authorization code for tokens (PKCE)',
      'success:Verified by stepup-fetch: Password + one-time code',
      'request:Retrying once: POST /api/transfer',
      'success:/api/transfer: 200 OK',
    ])
    expect(await page.locator('#pending').isVisible()).toBe(false)
  }, BROWSER_TIMEOUT)

  it('redirect: the page goes to the OP and back, resume() replays the interrupted POST once, and a reload replays nothing', async () => {
    await openDemo('redirect')
    await signInWithRedirect()

    await gesture(page, '#transfer')
    await page.waitForURL((url) => url.origin === demo.op.issuer)
    await signInAtOp(page, { otp: true })
    await page.waitForURL((url) => url.href === demo.url)
    await ready()

    await expect.poll(transferResult).toEqual({ status: '200', text: 'Sent 25 EUR to DE89 3704 0044 0532 0130 00.' })
    expect(popups).toHaveLength(0)
    expect(authorizations.map((url) => url.searchParams.get('acr_values'))).toEqual([null, ACR_2FA])
    expect(transfers()).toEqual([
      [401, ACR_1FA],
      [200, ACR_2FA],
    ])
    expect((await timeline()).map((event) => event.title)).toContain('resume() replayed the interrupted request to /api/transfer, once')

    await page.reload()
    await ready()
    await expectSignedIn(ACR_2FA)
    expect(transfers()).toHaveLength(2)
  }, BROWSER_TIMEOUT)

  it('a transfer started from a timer (no user activation) is popup_blocked; "Verify it\'s you" then steps up in one popup and sends it', async () => {
    await openDemo('popup')
    await signInWithPopup()

    await page.locator('#when').selectOption('later')
    await gesture(page, '#transfer')
    const blocked = await waitForError('popup_blocked')
    expect(blocked.title).toContain('The browser blocked the popup')
    expect(popups).toHaveLength(0)
    expect(transfers()).toEqual([[401, ACR_1FA]])
    expect(await page.locator('#verify-banner').isVisible()).toBe(true)
    expect(await transferResult()).toEqual({ status: 'not-sent', text: "Not sent yet: verify it's you first." })

    const { popup, closed } = await clickForPopup('#verify')
    await signInAtOp(popup, { otp: true })
    await closed
    await expect.poll(async () => (await transferResult()).status).toBe('200')
    expect(popups).toHaveLength(1)
    expect(authorizations.at(-1)!.searchParams.get('acr_values')).toBe(ACR_2FA)
    expect(transfers()).toEqual([
      [401, ACR_1FA],
      [200, ACR_2FA],
    ])
  }, BROWSER_TIMEOUT)

  it('closing the popup shows popup_closed within about a second and retries nothing', async () => {
    await openDemo('popup')
    await signInWithPopup()
    const tokensBefore = tokenRequests

    const { popup } = await clickForPopup('#transfer')
    await popup.locator('#otp').waitFor({ state: 'visible' })
    const closedAt = Date.now()
    await popup.close()
    await waitForError('popup_closed', 5_000)
    const shownAt = await page.evaluate(() => (JSON.parse(sessionStorage.getItem('demo:timeline')!) as { errorCode?: string; at: number }[]).find((e) => e.errorCode === 'popup_closed')!.at)
    console.log(`[demo] popup_closed shown ${shownAt - closedAt} ms after the popup was closed`)
    expect(shownAt - closedAt).toBeLessThan(2000)

    expect(transfers()).toEqual([[401, ACR_1FA]])
    expect(tokenRequests).toBe(tokensBefore)
    expect(await retries()).toEqual([])
    expect(await transferResult()).toEqual({ status: 'not-sent', text: 'Not sent: the verification did not succeed.' })
  }, BROWSER_TIMEOUT)

  it('ignores a forged callback that a foreign origin posts to the app from inside the popup', async () => {
    await openDemo('popup')
    await signInWithPopup()
    const tokensBefore = tokenRequests

    const { popup } = await clickForPopup('#transfer')
    await popup.locator('#otp').waitFor({ state: 'visible' })
    const state = authorizations.at(-1)!.searchParams.get('state')
    expect(state).toBeTruthy()
    const forged = `${demo.op.redirectUri}?code=forged&state=${state}&iss=${encodeURIComponent(demo.op.issuer)}`
    await popup.goto(`${foreign.origin}/forge.html?url=${encodeURIComponent(forged)}`)
    await popup.waitForFunction(() => document.getElementById('status')?.textContent === 'posted')
    await page.waitForFunction((origin) => window.__foreignMessages.includes(origin), foreign.origin)
    // An accepted message would close the popup and POST to the token endpoint within
    // milliseconds; give it a generous moment.
    await page.waitForTimeout(300)
    expect(popup.isClosed()).toBe(false)
    expect(tokenRequests).toBe(tokensBefore)
    expect(await page.locator('#status').getAttribute('data-status')).toBe('authorizing')

    await popup.close()
    await waitForError('popup_closed', 5_000)
    expect(transfers()).toEqual([[401, ACR_1FA]])
  }, BROWSER_TIMEOUT)

  it('an OP that answers with a lower acr: acr_not_satisfied is shown and the transfer is not retried', async () => {
    await signedInWith({ 'scenario-op-ignores-acr': true }, { opIgnoresAcr: true })
    await transferThroughPopup()
    const error = await waitForError('acr_not_satisfied')
    expect(error.title).toContain('lower assurance')
    expect(error.text).toContain(ACR_2FA)
    expect(transfers()).toEqual([[401, ACR_1FA]])
    expect(await retries()).toEqual([])
    expect(await transferResult()).toEqual({ status: 'not-sent', text: 'Not sent: the verification did not succeed.' })
    expect(await page.locator('#status').getAttribute('data-status')).toBe('error')
  }, BROWSER_TIMEOUT)

  it('redirect mode, an API that always challenges: one round trip to the OP, then loop_detected, also after a reload', async () => {
    await openDemo('redirect')
    await signInWithRedirect()
    await openScenarios()
    await gesture(page, '#loop')
    await page.waitForURL((url) => url.origin === demo.op.issuer)
    await signInAtOp(page, { otp: true })
    await page.waitForURL((url) => url.href === demo.url)
    await ready()

    const loop = await waitForError('loop_detected')
    expect(loop.title).toContain('stopped after one retry')
    const calls = () => demo.api.requests.filter((r) => r.path === '/api/always-challenge').map((r) => r.status)
    expect(calls()).toEqual([401, 401])
    // The sign-in, then exactly one step-up round trip.
    expect(authorizations.map((url) => url.searchParams.get('acr_values'))).toEqual([null, ACR_2FA])

    await page.reload()
    await ready()
    await page.waitForTimeout(300)
    expect(new URL(page.url()).origin).toBe(new URL(demo.url).origin)
    expect(calls()).toEqual([401, 401])
    expect(authorizations).toHaveLength(2)
  }, BROWSER_TIMEOUT)

  it('a cross-origin API that hides WWW-Authenticate but sends the JSON body: the step-up still works from the body', async () => {
    await signedInWith({ 'scenario-api-hides-header': true }, { apiHidesHeader: true })
    await transferThroughPopup()
    await expect.poll(async () => (await transferResult()).status).toBe('200')
    const challenge = (await timeline()).find((event) => event.kind === 'challenge')!
    expect(challenge.text).toContain('Read from the JSON body')
    expect(transfers()).toEqual([
      [401, ACR_1FA],
      [200, ACR_2FA],
    ])
  }, BROWSER_TIMEOUT)

  it('a cross-origin API that hides WWW-Authenticate and sends no JSON body: challenge_unreadable with the fix, no popup', async () => {
    await signedInWith({ 'scenario-api-hides-header': true, 'scenario-api-json-body': false }, { opIgnoresAcr: false, apiHidesHeader: true, apiSendsJsonBody: false })

    await gesture(page, '#transfer')
    const diagnostic = await waitForError('challenge_unreadable')
    expect(diagnostic.kind).toBe('warning')
    expect(diagnostic.text).toContain('Access-Control-Expose-Headers: WWW-Authenticate')
    await expect.poll(async () => (await transferResult()).status).toBe('401')
    expect(popups).toHaveLength(0)
    expect(transfers()).toEqual([[401, ACR_1FA]])
  }, BROWSER_TIMEOUT)

  // --- the React and Vue pages (issue 4's adapters) -----------------------------------------
  for (const [name, pagePath] of [
    ['React + ky', 'react.html'],
    ['Vue', 'vue.html'],
  ] as const) {
    it(`${name} page: a transfer from a timer waits in pending-user-action; "Verify it's you" continues the same request in one popup`, async () => {
      await openDemo('popup', pagePath)
      await signInWithPopup()
      await expect.poll(() => page.locator('#auth-time').textContent()).toMatch(/\(\d+ s ago\)$/)

      await page.locator('#when').selectOption('later')
      await gesture(page, '#transfer')
      // Polled inside the page: a Playwright evaluation would hand the page a user activation.
      await page.waitForFunction(() => document.querySelector('[data-stepup-prompt]') !== null, null, { timeout: 15_000, polling: 50 })
      expect(await page.locator('#status').getAttribute('data-status')).toBe('pending-user-action')
      expect(popups).toHaveLength(0)
      expect(transfers()).toEqual([[401, ACR_1FA]])

      const { popup, closed } = await clickForPopup('[data-stepup-prompt] button:first-of-type')
      await signInAtOp(popup, { otp: true })
      await closed
      await expect.poll(transferResult).toEqual({ status: '200', text: 'Sent 25 EUR to DE89 3704 0044 0532 0130 00.' })
      expect(popups).toHaveLength(1)
      // The waiting request itself went on: one challenge, one retry, no second attempt.
      expect(transfers()).toEqual([
        [401, ACR_1FA],
        [200, ACR_2FA],
      ])
      await expectSignedIn(ACR_2FA)
      expect(await page.locator('[data-stepup-prompt]').count()).toBe(0)
    }, BROWSER_TIMEOUT)
  }
})
