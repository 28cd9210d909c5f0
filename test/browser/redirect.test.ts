// @vitest-environment node
// The redirect interaction in a real Chromium against the real OP and API: full-page navigations
// to the OP and back, handleCallback() on /callback.html, resume() on the app page.
import type { BrowserContext, Page } from 'playwright-core'
import { beforeAll, expect, it } from 'vitest'
import { ACR_1FA, ACR_2FA } from '../../servers/op.js'
import { BROWSER_TIMEOUT, describeBrowser, useHarness, gesture, logLines, signInAtOp, waitForLog, type Harness } from './harness.js'

const BODY = JSON.stringify({ amount: 5 })

describeBrowser('redirect step-up in Chromium', () => {
  let h: Harness
  let context: BrowserContext
  let page: Page

  const ctx = useHarness()
  beforeAll(() => ({ h } = ctx))

  const onApp = (url: URL): boolean => url.href === h.appUrl('redirect')
  const onOp = (url: URL): boolean => url.origin === h.op.issuer
  const transfers = () => h.hits('/api/transfer').map((r) => [r.method, r.status, r.body])

  /** After a navigation back to the app: wait for the new document to finish its resume(). */
  async function backOnApp(): Promise<string[]> {
    await page.waitForURL(onApp, { timeout: 15_000 })
    await waitForLog(page, 'ready:redirect')
    return logLines(page)
  }

  it('signs in and steps up by full-page redirects; resume() replays the POST exactly once, and a reload does not replay it', async () => {
    context = await ctx.newContext()
    page = await context.newPage()
    const authorizations: URL[] = []
    context.on('request', (r) => {
      if (r.url().startsWith(`${h.authorizationEndpoint}?`)) authorizations.push(new URL(r.url()))
    })
    page.on('pageerror', (e) => console.error('[page error]', e))
    await page.goto(h.appUrl('redirect'))
    expect(await backOnApp()).toEqual(['resume:none:nothing_saved', 'ready:redirect'])

    // Sign in: app → OP login page → /callback.html → back to the app.
    await gesture(page, '#login')
    await page.waitForURL(onOp)
    await signInAtOp(page)
    expect(await backOnApp()).toEqual(['resume:none:nothing_saved', 'ready:redirect'])
    expect(await page.evaluate(() => window.__stepUp.getState())).toMatchObject({ status: 'idle', authenticated: true, sub: 'alice', acr: ACR_1FA })
    expect(transfers()).toEqual([])

    // Step up: the transfer's 401 sends the page to the OP; the code is typed; resume() replays.
    await gesture(page, '#transfer')
    await page.waitForURL(onOp)
    await page.locator('#otp-code').waitFor({ state: 'visible' })
    await signInAtOp(page, { otp: true })
    expect(await backOnApp()).toEqual(['resume:200', 'ready:redirect'])
    expect(transfers()).toEqual([
      ['POST', 401, BODY],
      ['POST', 200, BODY],
    ])
    expect(h.api.requests.filter((r) => r.path === '/api/transfer').map((r) => [r.status, r.acr])).toEqual([
      [401, ACR_1FA],
      [200, ACR_2FA],
    ])
    const [replayed] = await page.evaluate(() => window.__responses)
    expect(JSON.parse(replayed!.body)).toMatchObject({ ok: true, transferred: { amount: 5 }, acr: ACR_2FA })
    expect(await page.evaluate(() => window.__stepUp.getState())).toMatchObject({ status: 'idle', acr: ACR_2FA, lastResume: { replayed: true } })
    // Nothing of the flow (verifier, nonce, saved request) is left in sessionStorage: only the
    // tokens and the "done" marker (state, return page, time) that answers a reload of the callback.
    const keys = await page.evaluate(() => Object.keys(sessionStorage))
    expect(keys.filter((key) => !key.endsWith(':tokens') && !key.endsWith(':done'))).toEqual([])
    const done = await page.evaluate(() => Object.entries(sessionStorage).find(([key]) => key.endsWith(':done'))?.[1])
    expect(Object.keys(JSON.parse(done!)).sort()).toEqual(['at', 'returnTo', 'state'])
    expect(authorizations).toHaveLength(2)
    expect(authorizations[1]!.searchParams.get('acr_values')).toBe(ACR_2FA)
    expect(authorizations[1]!.searchParams.get('max_age')).toBe('300')

    // A reload never replays twice.
    await page.reload()
    expect(await backOnApp()).toEqual(['resume:none:nothing_saved', 'ready:redirect'])
    expect(transfers()).toHaveLength(2)
    expect(h.api.requests.filter((r) => r.path === '/api/transfer')).toHaveLength(2)
  }, BROWSER_TIMEOUT)
})
