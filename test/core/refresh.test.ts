import { http, HttpResponse } from 'msw'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, type StepUpOptions } from '../../src/index.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'
import { stubSessionStorage } from '../support/session-storage.js'

// Token expiry, refresh (rotation, single flight) and the session that ends: the SDK's own logic
// against the msw fake OP. The same paths against the real OP are in test/integration/refresh.test.ts.
const fakes = useFakeServers()
const { server } = fakes
let op: FakeOp
let api: FakeApi
beforeEach(() => {
  ;({ op, api } = fakes)
  // Only Date is faked: the clock the SDK and the fake OP read; promises run as usual.
  vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-01-01T00:00:00Z') })
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const later = (seconds: number) => vi.setSystemTime(Date.now() + seconds * 1000)

function client(overrides: Partial<StepUpOptions> = {}) {
  return createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, ...overrides })
}

async function signedIn(tokens: Parameters<FakeOp['setTokens']>[0] = { refreshTokens: true }, overrides: Partial<StepUpOptions> = {}) {
  op.setTokens(tokens)
  const stepUp = client(overrides)
  await stepUp.authorize()
  return stepUp
}

const transfer = { method: 'POST', body: '{"amount":5}', headers: { 'content-type': 'application/json' } }
const sent = () => api.calls.map((c) => c.authorization)

describe('refresh before expiry (at request time)', () => {
  it('uses the token as it is while more than 30 s are left', async () => {
    const stepUp = await signedIn()
    later(269)
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect(op.refreshRequests).toHaveLength(0)
  })

  it('refreshes once less than 30 s are left, and sends the new token', async () => {
    const stepUp = await signedIn()
    const first = (await stepUp.fetch(`${API}/balance`), sent()[0])
    later(271)
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect(op.refreshRequests).toHaveLength(1)
    expect(op.refreshRequests[0]!.get('client_id')).toBe(CLIENT_ID)
    expect(sent()[1]).not.toBe(first)
    expect(sent()[2]).toBe(sent()[1])
    expect(api.calls).toHaveLength(3)
  })

  it('for short lifetimes the margin is 10% of the lifetime', async () => {
    const stepUp = await signedIn({ refreshTokens: true, expiresIn: 100 })
    later(89)
    await stepUp.fetch(`${API}/balance`)
    expect(op.refreshRequests).toHaveLength(0)
    later(2)
    await stepUp.fetch(`${API}/balance`)
    expect(op.refreshRequests).toHaveLength(1)
  })

  it('N concurrent requests after expiry share ONE refresh', async () => {
    const stepUp = await signedIn()
    later(301)
    const responses = await Promise.all(Array.from({ length: 5 }, () => stepUp.fetch(`${API}/balance`)))
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(op.refreshRequests).toHaveLength(1)
    expect(new Set(sent()).size).toBe(1)
    expect(stepUp.getState()).toMatchObject({ authenticated: true, sub: 'alice' })
  })

  it('rotates: each refresh sends the refresh token the previous one returned', async () => {
    const stepUp = await signedIn()
    const issued: string[] = []
    server.events.on('response:mocked', async ({ request, response }) => {
      if (request.url === `${ISSUER}/token`) issued.push(((await response.clone().json()) as { refresh_token: string }).refresh_token)
    })
    for (let i = 0; i < 3; i++) {
      later(301)
      expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    }
    const used = op.refreshRequests.map((body) => body.get('refresh_token'))
    expect(used).toHaveLength(3)
    expect(new Set(used).size).toBe(3)
    expect(used.slice(1)).toEqual(issued.slice(0, 2))
    server.events.removeAllListeners()
  })
})

describe('refresh upon expiry (401 invalid_token)', () => {
  it('refreshes once and retries once; the response is the retry', async () => {
    const stepUp = await signedIn()
    let refused = 0
    server.use(
      http.get(`${API}/balance`, ({ request }) => {
        api.calls.push({ method: 'GET', path: '/balance', authorization: request.headers.get('authorization'), body: '', contentType: null })
        if (refused++ === 0) return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } })
        return HttpResponse.json({ balance: 1 })
      }),
    )
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(200)
    expect(op.refreshRequests).toHaveLength(1)
    expect(api.calls).toHaveLength(2)
    expect(sent()[1]).not.toBe(sent()[0])
  })

  it('replays the body on the refresh retry and still steps up when that retry is challenged', async () => {
    const stepUp = await signedIn()
    let refused = false
    server.use(
      http.post(`${API}/transfer`, () => {
        if (refused) return undefined // the fake API's own handler: a 1fa token gets the 2fa challenge
        refused = true
        return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } })
      }),
    )
    const res = await stepUp.fetch(`${API}/transfer`, transfer)
    expect(res.status).toBe(200)
    expect(op.refreshRequests).toHaveLength(1)
    expect(op.authorizations).toHaveLength(2) // login + the step-up
    // The challenged refresh retry and the step-up retry both carried the body.
    expect(api.calls.map((c) => Buffer.from(c.body, 'base64').toString())).toEqual(['{"amount":5}', '{"amount":5}'])
  })

  it('never loops: a second invalid_token after the refresh comes back untouched', async () => {
    const stepUp = await signedIn()
    server.use(
      http.get(`${API}/balance`, ({ request }) => {
        api.calls.push({ method: 'GET', path: '/balance', authorization: request.headers.get('authorization'), body: '', contentType: null })
        return new HttpResponse('refused', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } })
      }),
    )
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(401)
    expect(await res.text()).toBe('refused')
    expect(op.refreshRequests).toHaveLength(1)
    expect(api.calls).toHaveLength(2)
    expect(op.authorizations).toHaveLength(1)
  })

  it('a proactive refresh is the one refresh of that request', async () => {
    const stepUp = await signedIn()
    later(301)
    server.use(http.get(`${API}/balance`, () => new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } })))
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(401)
    expect(op.refreshRequests).toHaveLength(1)
  })

  it('without a refresh token, invalid_token passes through and nothing is retried', async () => {
    const stepUp = await signedIn({})
    server.use(http.get(`${API}/balance`, () => new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } })))
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(401)
    expect(op.tokenRequests).toHaveLength(1)
  })
})

describe('a refresh keeps the assurance of the authentication it came from', () => {
  it('keeps acr, amr and auth_time even when the new ID token claims more', async () => {
    const stepUp = await signedIn({ refreshTokens: true, refreshClaims: (login) => ({ ...login, acr: 'urn:test:2fa', auth_time: Math.floor(Date.now() / 1000) }) })
    const before = stepUp.getState()
    later(301)
    await stepUp.fetch(`${API}/balance`)
    expect(op.refreshRequests).toHaveLength(1)
    expect(stepUp.getState()).toMatchObject({ acr: 'urn:test:1fa', authTime: before.authTime })
    // And the SDK does not offer it where 2fa is needed: the transfer steps up.
    expect((await stepUp.fetch(`${API}/transfer`, transfer)).status).toBe(200)
    expect(op.authorizations).toHaveLength(2)
  })

  it('an elevated token refreshed past its max_age window steps up again, no endless refresh', async () => {
    const stepUp = await signedIn()
    expect((await stepUp.fetch(`${API}/transfer`, transfer)).status).toBe(200) // step-up (max_age 300)
    expect(op.authorizations).toHaveLength(2)
    later(310)
    api.calls.length = 0
    expect((await stepUp.fetch(`${API}/transfer`, transfer)).status).toBe(200)
    expect(op.authorizations).toHaveLength(3) // a new step-up
    expect(op.authorizations[2]!.searchParams.get('max_age')).toBe('300')
    // Only the baseline token was refreshed (for the first send); the stale elevated one was not offered.
    expect(op.refreshRequests).toHaveLength(1)
    expect(api.calls).toHaveLength(2)
  })

  it('drops the token when the refreshed ID token names another user', async () => {
    const stepUp = await signedIn({ refreshTokens: true, refreshClaims: (login) => ({ ...login, sub: 'mallory' }) })
    later(301)
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(401)
    expect(sent()).toEqual([null])
    expect(stepUp.getState()).toMatchObject({ authenticated: false, expired: true })
    expect(stepUp.getState().sub).toBeUndefined()
  })

  it('accepts a refresh response without an ID token', async () => {
    const stepUp = await signedIn({ refreshTokens: true, refreshIdToken: false })
    later(301)
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect(stepUp.getState()).toMatchObject({ authenticated: true, sub: 'alice', acr: 'urn:test:1fa' })
  })
})

describe('a session that ends', () => {
  it('invalid_grant (spent, expired, revoked) drops the token: signed out, no prompt, no loop', async () => {
    const stepUp = await signedIn()
    const listener = vi.fn()
    stepUp.subscribe(listener)
    op.revokeRefreshTokens()
    later(301)
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(401)
    expect(sent()).toEqual([null]) // the expired token is not sent
    expect(op.refreshRequests).toHaveLength(1)
    expect(op.authorizations).toHaveLength(1)
    expect(stepUp.getState()).toEqual({ status: 'idle', authenticated: false, expired: true })
    expect(listener).toHaveBeenCalled()
    // Nothing more happens on later requests.
    await stepUp.fetch(`${API}/balance`)
    expect(op.refreshRequests).toHaveLength(1)
    // Signing in again ends the "expired" state.
    await stepUp.authorize()
    expect(stepUp.getState()).toMatchObject({ authenticated: true, sub: 'alice' })
    expect(stepUp.getState().expired).toBeUndefined()
  })

  it('an elevated token whose refresh is refused gives way to the baseline token', async () => {
    const stepUp = await signedIn()
    await stepUp.fetch(`${API}/echo`, transfer) // elevated token for /echo (no max_age)
    later(301)
    // Refresh the baseline first, then revoke what is left (the elevated token's refresh token).
    await stepUp.fetch(`${API}/balance`)
    op.revokeRefreshTokens()
    api.calls.length = 0
    await stepUp.fetch(`${API}/echo`, transfer)
    expect(op.authorizations).toHaveLength(3) // the baseline went, was challenged, stepped up
    expect(stepUp.getState()).toMatchObject({ authenticated: true })
  })

  it('a failure that may pass (server_error, network) keeps the token and tries again later', async () => {
    const stepUp = await signedIn({ refreshTokens: true, refreshError: 'server_error' })
    later(280)
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200) // the old token is still good
    expect(op.refreshRequests).toHaveLength(1)
    later(1)
    await stepUp.fetch(`${API}/balance`)
    expect(op.refreshRequests).toHaveLength(2)
    expect(stepUp.getState()).toMatchObject({ authenticated: true })
  })

  // Which refusals end the session (RFC 6749 §5.2 errors: this refresh token will never work) and
  // which may pass (rate limits, outages, DPoP nonces): the next request tries again.
  it.each([
    { answer: '400 invalid_grant', status: 400, body: { error: 'invalid_grant' }, dropped: true },
    { answer: '401 invalid_client with WWW-Authenticate', status: 401, body: { error: 'invalid_client' }, headers: { 'www-authenticate': 'Basic realm="op"' }, dropped: true },
    { answer: '400 invalid_grant as text/plain', status: 400, body: { error: 'invalid_grant' }, text: true, dropped: true },
    { answer: '429 too_many_requests', status: 429, body: { error: 'too_many_requests' }, dropped: false },
    { answer: '400 temporarily_unavailable', status: 400, body: { error: 'temporarily_unavailable' }, dropped: false },
    { answer: '400 invalid_dpop_proof', status: 400, body: { error: 'invalid_dpop_proof' }, dropped: false },
    { answer: '503 without a body', status: 503, dropped: false },
  ])('a refresh answered $answer: dropped $dropped', async ({ status, body, headers, text, dropped }) => {
    const stepUp = await signedIn()
    let refreshes = 0
    server.use(
      http.post(`${ISSUER}/token`, () => {
        refreshes++
        return body === undefined
          ? new HttpResponse(null, { status })
          : text
            ? new HttpResponse(JSON.stringify(body), { status, headers: { 'content-type': 'text/plain', ...(headers ?? {}) } })
            : HttpResponse.json(body, { status, ...(headers ? { headers } : {}) })
      }),
    )
    later(301) // expired: the request needs the refresh
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(401)
    expect(sent()).toEqual([null])
    expect(stepUp.getState()).toMatchObject(dropped ? { authenticated: false, expired: true } : { authenticated: true })
    // Kept: the next request tries again. Dropped: nothing more is asked of the OP.
    await stepUp.fetch(`${API}/balance`)
    expect(refreshes).toBe(dropped ? 1 : 2)
  })

  it('a refresh chunk that does not load is a failure that may pass: the token stays, the next request tries again', async () => {
    const stepUp = await signedIn()
    vi.doMock('../../src/core/refresh.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module')
    })
    try {
      later(280) // less than 30 s left: a refresh is due, the old token is still good
      expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
      expect(op.refreshRequests).toHaveLength(0)
      expect(stepUp.getState()).toMatchObject({ authenticated: true })
    } finally {
      vi.doUnmock('../../src/core/refresh.js')
    }
    later(1)
    await stepUp.fetch(`${API}/balance`)
    expect(op.refreshRequests).toHaveLength(1)
    expect(sent().at(-1)).not.toBe(sent()[0])
  })

  it('without a refresh token an expired session says so, sends no token and never prompts', async () => {
    const stepUp = await signedIn({ expiresIn: 60 })
    expect(stepUp.getState()).toMatchObject({ authenticated: true })
    later(61)
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(401)
    expect(sent()).toEqual([null])
    expect(stepUp.getState()).toEqual({ status: 'idle', authenticated: false, expired: true })
    expect(op.authorizations).toHaveLength(1)
    expect(op.tokenRequests).toHaveLength(1)
  })

  it('logout() forgets the refresh tokens and a refresh answer that arrives after it', async () => {
    const stepUp = await signedIn()
    later(301)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    server.use(http.post(`${ISSUER}/token`, async () => (await held, undefined)))
    const pending = stepUp.fetch(`${API}/balance`)
    await vi.waitFor(() => expect(op.tokenRequests).toHaveLength(1))
    stepUp.logout()
    release()
    await pending
    expect(stepUp.getState()).toEqual({ status: 'idle', authenticated: false })
    expect(sent()).toEqual([null])
  })
})

describe("storage: 'session'", () => {
  it('persists the refresh token with the access token, and a reload can refresh', async () => {
    const items = stubSessionStorage()
    await signedIn({ refreshTokens: true }, { storage: 'session' })
    const stored = JSON.parse(items.get(`stepup-fetch:${CLIENT_ID}:tokens`)!) as Array<{ refreshToken?: string }>
    expect(stored[0]!.refreshToken).toMatch(/^rt-/)
    later(301)
    const reloaded = client({ storage: 'session' })
    expect((await reloaded.fetch(`${API}/balance`)).status).toBe(200)
    const rotated = JSON.parse(items.get(`stepup-fetch:${CLIENT_ID}:tokens`)!) as Array<{ refreshToken?: string }>
    expect(rotated[0]!.refreshToken).not.toBe(stored[0]!.refreshToken)
  })
})
