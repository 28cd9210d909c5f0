// @vitest-environment happy-dom
import { getResponse } from 'msw'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, type StepUpOptions } from '../../src/index.js'
import { createFakeApi, type FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, createFakeOp, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { deferred } from '../deferred.js'

// Each createStepUp() below stands for one page load; sessionStorage is what survives between them.
let op: FakeOp
let api: FakeApi
let navigations: URL[]
const router: typeof fetch = async (input, init) => {
  const request = new Request(input, init)
  const response = await getResponse([...op.handlers, ...api.handlers], request)
  if (!response) throw new Error(`unhandled ${request.method} ${request.url}`)
  return response
}

beforeEach(() => {
  sessionStorage.clear()
  op = createFakeOp()
  api = createFakeApi(op)
  navigations = []
  vi.spyOn(window.location, 'assign').mockImplementation((url: string | URL) => void navigations.push(new URL(String(url))))
})
afterEach(() => sessionStorage.clear())

function page(overrides: Partial<StepUpOptions> = {}) {
  return createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: 'redirect', storage: 'session', fetch: router, ...overrides })
}

/** The user at the OP: signs in and is sent back to the redirect URI. */
async function atTheOp(): Promise<URL> {
  const authorizationUrl = navigations.at(-1)!
  return new URL(String(await op.interaction(authorizationUrl, { signal: new AbortController().signal, beforeRedirect: async () => {} })))
}

async function settledWithin<T>(promise: Promise<T>, ms = 50): Promise<boolean> {
  let settled = false
  promise.then(() => (settled = true), () => (settled = true))
  await new Promise((resolve) => setTimeout(resolve, ms))
  return settled
}

async function signIn() {
  const pending = page().authorize()
  await vi.waitFor(() => expect(navigations).toHaveLength(1))
  expect(await settledWithin(pending)).toBe(false)
  return page().handleCallback(await atTheOp())
}

describe('redirect step-up', () => {
  it('signs in across a page load; the fetch that started it never settles', async () => {
    const result = await signIn()
    expect(result).toEqual({ mode: 'redirect', returnTo: location.href })
    expect(page().getState()).toMatchObject({ authenticated: true, acr: 'urn:test:1fa' })
  })

  it('saves the interrupted POST, and resume() replays it once with the new token', async () => {
    await signIn()
    const pending = page().fetch(`${API}/transfer`, { method: 'POST', body: '{"amount":7}', headers: { 'content-type': 'application/json' } })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    expect(await settledWithin(pending)).toBe(false)
    expect(navigations[1]!.searchParams.get('acr_values')).toBe('urn:test:2fa')
    const saved = Object.keys(sessionStorage).join(' ')
    expect(saved).toContain(`stepup-fetch:${CLIENT_ID}:resume`)
    expect(sessionStorage.getItem(`stepup-fetch:${CLIENT_ID}:resume`)).not.toMatch(/authorization/i)

    const callback = await atTheOp()
    const landing = page()
    await expect(landing.handleCallback(callback)).resolves.toMatchObject({ mode: 'redirect' })
    const app = page()
    const res = await app.resume()
    expect(res?.status).toBe(200)
    const transfers = api.calls.filter((c) => c.path === '/transfer')
    expect(transfers).toHaveLength(2)
    expect(Buffer.from(transfers[1]!.body, 'base64').toString()).toBe('{"amount":7}')
    expect(transfers[1]!.contentType).toBe('application/json')
    expect(op.claimsOf(transfers[1]!.authorization)?.acr).toBe('urn:test:2fa')
    expect(app.getState().lastResume).toEqual({ replayed: true })
    // Deleted before the replay: a reload never replays twice.
    await expect(page().resume()).resolves.toBeUndefined()
    expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(2)
  })

  it('keeps the loop guard across the page load: a challenged replay is loop_detected, no new flow', async () => {
    await signIn()
    void page().fetch(`${API}/always`)
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    await page().handleCallback(await atTheOp())
    await expect(page().resume()).rejects.toMatchObject({ code: 'loop_detected' })
    expect(navigations).toHaveLength(2)
    expect(api.calls.filter((c) => c.path === '/always')).toHaveLength(2)
  })

  it('replays with the token obtained for max_age=0 even when seconds pass before resume()', async () => {
    const { http, HttpResponse } = await import('msw')
    // This API demands max_age=0 and accepts any 2fa token (it allows for its own latency).
    api.handlers.push(
      http.post(`${API}/sign`, ({ request }) =>
        op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:2fa'
          ? HttpResponse.json({ signed: true })
          : new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:test:2fa", max_age=0' } }),
      ),
    )
    await signIn()
    void page().fetch(`${API}/sign`, { method: 'POST', body: 'contract' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    expect(navigations[1]!.searchParams.get('max_age')).toBe('0')
    await page().handleCallback(await atTheOp())
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 5_000 })
    try {
      const res = await page().resume()
      expect(res?.status).toBe(200)
    } finally {
      vi.useRealTimers()
    }
  })

  it('saves the request that still waits, never one that was aborted while the flow was shared', async () => {
    await signIn()
    const { promise: gate, resolve: go } = deferred()
    const { promise: inInteraction, resolve: entered } = deferred()
    const app = page({
      interaction: async (url, ctx) => {
        entered()
        await gate
        await ctx.beforeRedirect()
        return new Promise<never>(() => {})
      },
    })
    const controller = new AbortController()
    const first = app.fetch(`${API}/transfer`, { method: 'POST', body: 'aborted', signal: controller.signal }).catch((e: unknown) => e)
    await inInteraction
    void app.fetch(`${API}/transfer`, { method: 'POST', body: 'live' })
    await vi.waitFor(() => expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(2))
    controller.abort()
    expect(await first).toBe(controller.signal.reason)
    go()
    await vi.waitFor(() => expect(sessionStorage.getItem(`stepup-fetch:${CLIENT_ID}:resume`)).not.toBeNull())
    const saved = JSON.parse(sessionStorage.getItem(`stepup-fetch:${CLIENT_ID}:resume`)!) as { request: { body: string } }
    expect(atob(saved.request.body)).toBe('live')
  })

  it('answers a second handleCallback() for the same callback (StrictMode, reload) without losing the saved request', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'once' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    const callback = await atTheOp()
    const landing = page()
    const [a, b] = await Promise.all([landing.handleCallback(callback), landing.handleCallback(callback)])
    expect(b).toEqual(a)
    // A reload of the callback page, in a new page instance:
    await expect(page().handleCallback(callback)).resolves.toEqual(a)
    expect(op.tokenRequests).toHaveLength(2) // login + this step-up: the code was redeemed once
    const res = await page().resume()
    expect(res?.status).toBe(200)
    expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(2)
  })

  it('two clients on one page each handle the callback themselves: only the one that finds the saved flow redeems it', async () => {
    const pending = page().authorize()
    await vi.waitFor(() => expect(navigations).toHaveLength(1))
    void pending
    const callback = await atTheOp()
    const [a, b] = [page(), page()]
    const [ra, rb] = await Promise.allSettled([a.handleCallback(callback), b.handleCallback(callback)])
    expect(ra).toMatchObject({ status: 'fulfilled', value: { mode: 'redirect' } })
    expect(a.getState()).toMatchObject({ authenticated: true })
    // B found nothing saved (A took it) and no token of its own: the callback is not B's success.
    expect(rb).toMatchObject({ status: 'rejected', reason: { code: 'state_mismatch' } })
    expect(op.tokenRequests).toHaveLength(1)
  })

  it('refuses to replay a saved request for a URL outside protect (tampered sessionStorage)', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    await page().handleCallback(await atTheOp())
    const key = `stepup-fetch:${CLIENT_ID}:resume`
    const record = JSON.parse(sessionStorage.getItem(key)!) as { request: { url: string } }
    record.request.url = 'https://evil.test/steal'
    sessionStorage.setItem(key, JSON.stringify(record))
    const app = page()
    await expect(app.resume()).resolves.toBeUndefined()
    expect(app.getState().lastResume).toMatchObject({ replayed: false })
  })

  it('logout() forgets a half-done redirect step-up: its callback no longer signs in, nothing is replayed', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    const callback = await atTheOp() // the user pressed Back instead, and signs out…
    page().logout()
    const late = page() // …then finishes the OP page anyway
    await expect(late.handleCallback(callback)).rejects.toMatchObject({ code: 'state_mismatch' })
    expect(late.getState().authenticated).toBe(false)
    await expect(page().resume()).resolves.toBeUndefined()
    expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(1)
  })

  it('a reload of a redeemed callback after logout() is state_mismatch, not a success', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    const callback = await atTheOp()
    await page().handleCallback(callback)
    page().logout()
    await expect(page().handleCallback(callback)).rejects.toMatchObject({ code: 'state_mismatch' })
  })

  it('logout() during handleCallback() rejects it with aborted and leaves the state signed out, not in error', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    const callback = await atTheOp()
    const { promise: gate, resolve: release } = deferred()
    const { promise: reached, resolve: atToken } = deferred()
    const landing = page({
      fetch: async (input, init) => {
        if (String(input instanceof Request ? input.url : input).endsWith('/token')) {
          atToken()
          await gate
        }
        return router(input, init)
      },
    })
    const pending = landing.handleCallback(callback).catch((e: unknown) => e)
    await reached
    landing.logout()
    release()
    expect(await pending).toMatchObject({ code: 'aborted' })
    expect(landing.getState()).toEqual({ status: 'idle', authenticated: false })
  })

  it('rejects an OP error callback with its typed error and discards the saved request', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    const callback = await atTheOp()
    callback.searchParams.delete('code')
    callback.searchParams.set('error', 'unmet_authentication_requirements')
    await expect(page().handleCallback(callback)).rejects.toMatchObject({ code: 'unmet_authentication_requirements', opError: 'unmet_authentication_requirements' })
    const app = page()
    await expect(app.resume()).resolves.toBeUndefined()
    expect(app.getState().lastResume).toMatchObject({ replayed: false, reason: 'nothing_saved' })
    expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(1)
  })

  it('rejects a forged state with state_mismatch, redeems nothing and discards the saved request', async () => {
    await signIn()
    void page().fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    const callback = await atTheOp()
    callback.searchParams.set('state', 'forged')
    const tokenRequests = op.tokenRequests.length
    await expect(page().handleCallback(callback)).rejects.toMatchObject({ code: 'state_mismatch' })
    expect(op.tokenRequests).toHaveLength(tokenRequests)
    await expect(page().resume()).resolves.toBeUndefined()
    // Reloading the (real) callback afterwards finds nothing pending either.
    callback.searchParams.set('state', navigations[1]!.searchParams.get('state')!)
    await expect(page().handleCallback(callback)).rejects.toMatchObject({ code: 'state_mismatch' })
  })

  it('does not save a stream body, and resume() says why', async () => {
    await signIn()
    const body = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('x')), c.close()) })
    void page().fetch(`${API}/transfer`, { method: 'POST', body, duplex: 'half' } as RequestInit)
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    await page().handleCallback(await atTheOp())
    const app = page()
    await expect(app.resume()).resolves.toBeUndefined()
    expect(app.getState().lastResume).toMatchObject({ replayed: false, reason: 'body_not_saved' })
  })

  it("with storage: 'memory' a reload loses the token, and resume() says so instead of sending the request bare", async () => {
    const memory = { storage: 'memory' } as const
    const first = page(memory)
    void first.authorize().catch(() => {})
    await vi.waitFor(() => expect(navigations).toHaveLength(1))
    await first.handleCallback(await atTheOp())
    void first.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    await page(memory).handleCallback(await atTheOp())
    const app = page(memory) // a second full page load: memory is empty again
    await expect(app.resume()).resolves.toBeUndefined()
    expect(app.getState().lastResume).toMatchObject({ reason: 'token_lost' })
    expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(1)
  })

  it('replays in the same page when the callback is handled inside the SPA (memory storage)', async () => {
    const spa = page({ storage: 'memory' })
    const login = spa.authorize().catch((error: unknown) => error)
    await vi.waitFor(() => expect(navigations).toHaveLength(1))
    await spa.handleCallback(await atTheOp())
    // The login's own redirect flow could never settle in this page; it is cancelled, not left hanging.
    expect(await login).toMatchObject({ code: 'aborted' })
    const interrupted = spa.fetch(`${API}/echo`, { method: 'POST', body: 'kept' })
    interrupted.catch(() => {})
    await vi.waitFor(() => expect(navigations).toHaveLength(2))
    await spa.handleCallback(await atTheOp())
    const res = await spa.resume()
    expect(res?.status).toBe(200)
    expect(api.calls.filter((c) => c.path === '/echo').map((c) => Buffer.from(c.body, 'base64').toString())).toEqual(['kept', 'kept'])
    await expect(interrupted).rejects.toMatchObject({ code: 'aborted' })
  })
})
