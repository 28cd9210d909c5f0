import { decodeJwt } from 'jose'
import { http, HttpResponse } from 'msw'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, isStepUpError, type StepUpOptions } from '../../src/index.js'
import { createStepUpKy } from '../../src/ky/index.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'
import { stubSessionStorage } from '../support/session-storage.js'

// The SDK's own DPoP logic against the msw fakes, fast. The fake OP issues Bearer tokens, so the
// fetch below relabels its token responses as DPoP (the fake API does not check proofs; the real
// ones do, in test/integration/dpop.test.ts).
const fakes = useFakeServers()
const { server } = fakes
let op: FakeOp
let api: FakeApi
beforeEach(() => ({ op, api } = fakes))
afterEach(() => vi.unstubAllGlobals())

/** Requests as they went out: authorization and DPoP proof. */
let wire: Array<{ url: string; authorization: string | null; dpop: string | null }> = []
beforeEach(() => (wire = []))
const dpopFetch = async (input: RequestInfo | URL, init?: RequestInit, send: typeof fetch = fetch): Promise<Response> => {
  const request = new Request(input, init)
  wire.push({ url: request.url, authorization: request.headers.get('authorization'), dpop: request.headers.get('dpop') })
  const response = await send(request)
  if (request.url !== `${ISSUER}/token` || !response.ok) return response
  return HttpResponse.json({ ...((await response.json()) as object), token_type: 'DPoP' })
}

function client(overrides: Partial<StepUpOptions> = {}) {
  return createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, dpop: true, fetch: (input, init) => dpopFetch(input, init), ...overrides })
}
const toApi = () => wire.filter((w) => w.url.startsWith(API))

describe('dpop: true', () => {
  it('sends Authorization: DPoP and a proof for that very request, also from the fast path (string URL, plain init, default fetch)', async () => {
    // No custom fetch: the SDK's default one (globalThis.fetch at call time, msw underneath).
    const underlying = globalThis.fetch
    vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) => dpopFetch(input, init, underlying))
    let seen: Headers | undefined
    server.use(http.get(`${API}/balance`, ({ request }) => ((seen = request.headers), HttpResponse.json({ balance: 1 }))))
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, dpop: true })
    await stepUp.authorize()
    expect((await stepUp.fetch(`${API}/balance?x=1`, { headers: { accept: 'application/json' } })).status).toBe(200)
    expect(seen!.get('authorization')).toMatch(/^DPoP /)
    expect(seen!.get('accept')).toBe('application/json')
    expect(decodeJwt(seen!.get('dpop')!)).toMatchObject({ htm: 'GET', htu: `${API}/balance` })
    // The token request carried a proof too, without ath.
    const exchange = wire.find((w) => w.url === `${ISSUER}/token`)!
    expect(decodeJwt(exchange.dpop!)).toMatchObject({ htm: 'POST', htu: `${ISSUER}/token` })
    expect(decodeJwt(exchange.dpop!).ath).toBeUndefined()
  })

  it('a 401 DPoP error="invalid_token" refreshes once (with a proof) and retries with a new proof', async () => {
    op.setTokens({ refreshTokens: true })
    const stepUp = client()
    await stepUp.authorize()
    let refused = 0
    server.use(
      http.get(`${API}/balance`, () => {
        if (refused++ === 0) return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="invalid_token", algs="ES256"' } })
        return HttpResponse.json({ balance: 1 })
      }),
    )
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(200)
    expect(op.refreshRequests).toHaveLength(1)
    const [first, retry] = toApi()
    expect(retry!.authorization).not.toBe(first!.authorization)
    expect(decodeJwt(retry!.dpop!).jti).not.toBe(decodeJwt(first!.dpop!).jti)
    expect(decodeJwt(retry!.dpop!).ath).not.toBe(decodeJwt(first!.dpop!).ath)
  })

  it('a refresh the OP refuses over its DPoP proof (invalid_dpop_proof) keeps the session; invalid_grant ends it', async () => {
    op.setTokens({ refreshTokens: true, refreshError: 'invalid_dpop_proof' })
    const stepUp = client()
    await stepUp.authorize()
    server.use(http.get(`${API}/balance`, () => new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="invalid_token"' } })))
    expect((await stepUp.fetch(`${API}/balance`)).status).toBe(401)
    expect(op.refreshRequests).toHaveLength(1)
    expect(stepUp.getState().authenticated).toBe(true)
    op.setTokens({ refreshTokens: true, refreshError: 'invalid_grant' })
    await stepUp.fetch(`${API}/balance`)
    expect(stepUp.getState()).toMatchObject({ authenticated: false, expired: true })
  })

  it('a DPoP-scheme step-up challenge steps up and retries once, with a proof each time', async () => {
    server.use(
      http.post(`${API}/transfer`, ({ request }) => {
        if (request.headers.get('authorization') === toApi()[0]?.authorization) {
          return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="insufficient_user_authentication", acr_values="urn:x:2fa", algs="ES256"' } })
        }
        return HttpResponse.json({ ok: true })
      }),
    )
    const stepUp = client()
    await stepUp.authorize()
    expect((await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' })).status).toBe(200)
    expect(op.authorizations).toHaveLength(2)
    expect(op.authorizations[1]!.searchParams.get('acr_values')).toBe('urn:x:2fa')
    expect(toApi().map((w) => decodeJwt(w.dpop!).htm)).toEqual(['POST', 'POST'])
  })

  it('tokens bound to a key that is gone (a reload without IndexedDB) are dropped: signed out, nothing sent with them', async () => {
    const storage = stubSessionStorage()
    const before = client({ storage: 'session' })
    await before.authorize()
    expect(JSON.parse(storage.get(`stepup-fetch:${CLIENT_ID}:tokens`)!)[0]).toMatchObject({ tokenType: 'DPoP', jkt: expect.any(String) })
    // "Reload": a new client over the same sessionStorage; no IndexedDB here, so a new memory key.
    const after = client({ storage: 'session' })
    expect(after.getState().authenticated).toBe(true) // until the key is checked
    wire = []
    const res = await after.fetch(`${API}/balance`)
    expect(res.status).toBe(401)
    expect(toApi()).toEqual([{ url: `${API}/balance`, authorization: null, dpop: null }])
    expect(after.getState()).toMatchObject({ authenticated: false, expired: true })
  })

  it('a key that cannot be made is a token_error that says what DPoP needs; the next sign-in tries again', async () => {
    const generateKey = vi.spyOn(crypto.subtle, 'generateKey').mockRejectedValueOnce(new DOMException('not a secure context', 'NotSupportedError'))
    try {
      const stepUp = client()
      const error: unknown = await stepUp.authorize().catch((e: unknown) => e)
      expect(isStepUpError(error, 'token_error')).toBe(true)
      expect((error as Error).message).toMatch(/^DPoP could not be set up \(not a secure context\): it needs WebCrypto/)
      expect(stepUp.getState()).toMatchObject({ status: 'error', error, authenticated: false })
      await stepUp.authorize()
      expect(stepUp.getState()).toMatchObject({ status: 'idle', authenticated: true })
      expect(generateKey).toHaveBeenCalledTimes(2)
    } finally {
      generateKey.mockRestore()
    }
  })

  it('a DPoP chunk that does not load is a token_error that says so; the next sign-in tries again', async () => {
    vi.doMock('../../src/dpop/dpop.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module')
    })
    const stepUp = client()
    try {
      const error: unknown = await stepUp.authorize().catch((e: unknown) => e)
      expect(isStepUpError(error, 'token_error')).toBe(true)
      expect((error as Error).message).toMatch(/^the SDK's DPoP chunk did not load \(.*\); reload the page$/)
      expect(stepUp.getState()).toMatchObject({ status: 'error', error, authenticated: false })
    } finally {
      vi.doUnmock('../../src/dpop/dpop.js')
    }
    await stepUp.authorize()
    expect(stepUp.getState()).toMatchObject({ status: 'idle', authenticated: true })
  })

  it('turning dpop off: DPoP-bound tokens in sessionStorage are not sent without their proof', async () => {
    const storage = stubSessionStorage()
    await client({ storage: 'session' }).authorize()
    const after = client({ storage: 'session', dpop: false })
    expect(after.getState().authenticated).toBe(false)
    wire = []
    await after.fetch(`${API}/balance`)
    expect(toApi()).toEqual([{ url: `${API}/balance`, authorization: null, dpop: null }])
  })

  it('logout() while the key is still being made: the late key changes nothing for the next sign-in', async () => {
    const generate = crypto.subtle.generateKey.bind(crypto.subtle)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let calls = 0
    vi.spyOn(crypto.subtle, 'generateKey').mockImplementation((async (...args: Parameters<typeof generate>) => {
      if (++calls === 1) await gate // the first key takes its time
      return generate(...args)
    }) as typeof crypto.subtle.generateKey)
    const stepUp = client()
    const first = stepUp.authorize().catch((e: unknown) => e)
    for (let i = 0; i < 500 && calls === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(calls).toBe(1)
    stepUp.logout()
    await stepUp.authorize() // a new key, and tokens bound to it
    release()
    await first
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(stepUp.getState().authenticated).toBe(true)
    fakes.server.use(http.get(`${API}/balance`, () => HttpResponse.json({ balance: 1 })))
    wire = []
    await stepUp.fetch(`${API}/balance`)
    expect(toApi()[0]!.authorization).toMatch(/^DPoP at-/)
  })

  it('leaves unprotected URLs alone', async () => {
    server.use(http.get('https://elsewhere.example/x', () => HttpResponse.text('ok')))
    const stepUp = client()
    await stepUp.authorize()
    await stepUp.fetch('https://elsewhere.example/x')
    expect(wire.at(-1)).toEqual({ url: 'https://elsewhere.example/x', authorization: null, dpop: null })
  })

  it('ky: a DPoP nonce retry is not the step-up retry (a later challenge on a ky retry still steps up)', async () => {
    let calls = 0
    fakes.server.use(
      http.get(`${API}/report`, ({ request }) => {
        calls++
        if (calls === 1) return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': 'n1' } })
        if (calls === 2) return new HttpResponse(null, { status: 503 }) // transient: ky retries the GET
        if (op.claimsOf(request.headers.get('authorization')?.replace(/^DPoP /, 'Bearer ') ?? null)?.acr === 'urn:test:2fa') return HttpResponse.json({ ok: true })
        return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="insufficient_user_authentication", acr_values="urn:test:2fa"' } })
      }),
    )
    const stepUp = client()
    await stepUp.authorize()
    const api = createStepUpKy(stepUp, { prefix: API, retry: { limit: 2, delay: () => 0 } })
    const result = await api.get('report').then((r) => r.status, (e: unknown) => (isStepUpError(e) ? e.code : e))
    expect(result).toBe(200)
    expect(op.authorizations).toHaveLength(2) // the sign-in and the one step-up
  })

  it('ky: one step-up per call even when the API rotates its nonce between ky attempts', async () => {
    let calls = 0
    fakes.server.use(
      http.post(`${API}/report`, ({ request }) => {
        calls++
        const elevated = op.claimsOf(request.headers.get('authorization')?.replace(/^DPoP /, 'Bearer ') ?? null)?.acr === 'urn:test:2fa'
        // 1: nonce, 2: challenge, 3 (after the step-up): 503, ky retries; 4: a new nonce; 5: challenged again.
        if (calls === 1 || calls === 4) return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': `n${calls}` } })
        if (calls === 3) return new HttpResponse(null, { status: 503 })
        if (calls === 5 || !elevated) return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="insufficient_user_authentication", acr_values="urn:test:2fa"' } })
        return HttpResponse.json({ ok: true })
      }),
    )
    const stepUp = client()
    await stepUp.authorize()
    const api = createStepUpKy(stepUp, { prefix: API, retry: { limit: 2, delay: () => 0, methods: ['post'] } })
    const result = await api.post('report', { body: 'x' }).then((r) => r.status, (e: unknown) => (isStepUpError(e) ? e.code : e))
    expect(result).toBe('loop_detected')
    expect(op.authorizations).toHaveLength(2) // the sign-in and ONE step-up
  })

  it('ky: a retry after a refresh is not the step-up retry either (Bearer)', async () => {
    op.setTokens({ refreshTokens: true })
    let calls = 0
    fakes.server.use(
      http.get(`${API}/report`, ({ request }) => {
        calls++
        if (calls === 1) return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } })
        if (calls === 2) return new HttpResponse(null, { status: 503 })
        if (op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:2fa') return HttpResponse.json({ ok: true })
        return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:test:2fa"' } })
      }),
    )
    const stepUp = createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction })
    await stepUp.authorize()
    const api = createStepUpKy(stepUp, { prefix: API, retry: { limit: 2, delay: () => 0 } })
    const result = await api.get('report').then((r) => r.status, (e: unknown) => (isStepUpError(e) ? e.code : e))
    expect(result).toBe(200)
    expect(op.authorizations).toHaveLength(2)
  })

  it('a redirect to another origin: its DPoP-Nonce is not taken as the API\'s, and its use_dpop_nonce is no reason to resend', async () => {
    const OTHER = 'https://other.example'
    let otherCalls = 0
    fakes.server.use(
      http.get(`${API}/moved`, () => new HttpResponse(null, { status: 307, headers: { location: `${OTHER}/x` } })),
      http.get(`${OTHER}/x`, () => (otherCalls++, new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': 'nonce-of-other' } }))),
      http.get(`${API}/balance`, () => HttpResponse.json({ balance: 1 })),
    )
    const stepUp = client()
    await stepUp.authorize()
    expect((await stepUp.fetch(`${API}/moved`)).status).toBe(401)
    expect(otherCalls).toBe(1)
    await stepUp.fetch(`${API}/balance`)
    const last = wire.filter((w) => w.url === `${API}/balance`).at(-1)!
    expect(decodeJwt(last.dpop!).nonce).toBeUndefined()
  })

  it('an aborted request is not sent again by the nonce retry; it rejects with the signal\'s reason', async () => {
    const controller = new AbortController()
    let posts = 0
    fakes.server.use(
      http.post(`${API}/transfer`, () => {
        if (++posts === 1) {
          controller.abort() // the user cancels while the first answer is on its way
          return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': 'n1' } })
        }
        return HttpResponse.json({ ok: true })
      }),
    )
    // An app fetch that does not honour signals (a wrapper that rebuilds the request).
    const stepUp = client({ fetch: (input, init) => dpopFetch(new Request(new Request(input, init), { signal: null })) })
    await stepUp.authorize()
    const result = await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x', signal: controller.signal }).catch((e: unknown) => e)
    expect(posts).toBe(1)
    expect((result as Error).name).toBe('AbortError')
  })
})
