// Races, cancellations and hostile servers around the core flow.
import { http, HttpResponse } from 'msw'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { TokenSet, type TokenRecord } from '../../src/core/tokens.js'
import { createStepUp, type StepUpOptions } from '../../src/index.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, challengeHeader, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'
import { deferred } from '../deferred.js'

const fakes = useFakeServers()
const { server } = fakes
let op: FakeOp
let api: FakeApi
beforeEach(() => ({ op, api } = fakes))

const client = (overrides: Partial<StepUpOptions> = {}) =>
  createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, ...overrides })

const now = () => Math.floor(Date.now() / 1000)

describe('users', () => {
  it('lets a plain authorize() switch users, replacing every token of the old one', async () => {
    const stepUp = client()
    await stepUp.authorize()
    await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' }) // alice holds a 2fa token too
    op.setLogin(() => ({ sub: 'bob', acr: 'urn:test:1fa', auth_time: now() }))
    await stepUp.authorize()
    expect(stepUp.getState()).toMatchObject({ sub: 'bob', status: 'idle' })
    api.calls.length = 0
    await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'y' }).catch(() => {})
    // Alice's elevated token is gone: bob's request went with bob's token.
    expect(op.claimsOf(api.calls[0]!.authorization)?.sub).toBe('bob')
  })
})

describe('status', () => {
  it('returns to idle when a queued flow is met by the token an earlier flow obtained', async () => {
    server.use(
      http.get(`${API}/either`, ({ request }) =>
        op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:2fa'
          ? HttpResponse.json({ ok: true })
          : new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': challengeHeader('urn:test:2fa urn:test:other') } }),
      ),
    )
    const interaction = vi.fn(op.interaction)
    const stepUp = client({ interaction })
    await stepUp.authorize()
    const results = await Promise.all([stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a' }), stepUp.fetch(`${API}/either`)])
    expect(results.map((r) => r.status)).toEqual([200, 200])
    expect(interaction).toHaveBeenCalledTimes(2) // login + one step-up
    expect(stepUp.getState().status).toBe('idle')
  })

  it('returns to idle after logout() cancels a running and a queued flow', async () => {
    const { promise: gate, resolve: release } = deferred()
    const stepUp = client({
      interaction: async (url, ctx) => {
        if (url.searchParams.has('acr_values')) await Promise.race([gate, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))])
        return op.interaction(url, ctx)
      },
    })
    await stepUp.authorize()
    const a = stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a' }).catch((e: unknown) => e)
    const b = stepUp.authorize({ acrValues: ['urn:test:other'] }).catch((e: unknown) => e)
    await vi.waitFor(() => expect(stepUp.getState().status).toBe('authorizing'))
    stepUp.logout()
    expect(await a).toMatchObject({ code: 'aborted' })
    expect(await b).toMatchObject({ code: 'aborted' })
    await vi.waitFor(() => expect(stepUp.getState()).toEqual({ status: 'idle', authenticated: false }))
    release()
  })
})

describe('cancellation', () => {
  it('never calls the interaction when the only request is aborted while the flow is being prepared', async () => {
    const digest = crypto.subtle.digest.bind(crypto.subtle)
    const { promise: digesting, resolve: inDigest } = deferred()
    vi.spyOn(crypto.subtle, 'digest').mockImplementation(async (...args: Parameters<SubtleCrypto['digest']>) => {
      inDigest()
      await new Promise((resolve) => setTimeout(resolve, 30))
      return digest(...args)
    })
    const interaction = vi.fn(op.interaction)
    const unhandled = vi.fn()
    process.on('unhandledRejection', unhandled)
    try {
      const stepUp = client({ interaction })
      const controller = new AbortController()
      const pending = stepUp.fetch(`${API}/always`, { signal: controller.signal })
      await digesting
      controller.abort()
      await expect(pending).rejects.toBe(controller.signal.reason)
      await new Promise((resolve) => setTimeout(resolve, 60))
      expect(interaction).not.toHaveBeenCalled()
      expect(unhandled).not.toHaveBeenCalled()
    } finally {
      process.off('unhandledRejection', unhandled)
    }
  })

  it('drops a token response that arrives after logout()', async () => {
    const { promise: tokenGate, resolve: releaseToken } = deferred()
    const { promise: reached, resolve: atTokenEndpoint } = deferred()
    // A fetch that ignores abort signals (some polyfills do): the response still arrives.
    const stubborn: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (url === `${ISSUER}/token`) {
        atTokenEndpoint()
        await tokenGate
        const { signal: _ignored, ...rest } = init ?? {}
        return globalThis.fetch(input, rest)
      }
      return globalThis.fetch(input, init)
    }
    const stepUp = client({ fetch: stubborn })
    const login = stepUp.authorize().catch((e: unknown) => e)
    await reached
    stepUp.logout()
    releaseToken()
    expect(await login).toMatchObject({ code: 'aborted' })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(stepUp.getState().authenticated).toBe(false)
    await stepUp.fetch(`${API}/balance`)
    expect(api.calls.at(-1)!.authorization).toBeNull()
  })

  it('rejects with the signal reason when aborted while a 401 body is read for a challenge', async () => {
    const controller = new AbortController()
    const slowChallenge: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (!url.startsWith(API)) return globalThis.fetch(input, init)
      const body = new ReadableStream<Uint8Array>({
        async start(stream) {
          controller.abort()
          await new Promise((resolve) => setTimeout(resolve, 20))
          stream.enqueue(new TextEncoder().encode('{"error":"invalid_token"}'))
          stream.close()
        },
      })
      return new Response(body, { status: 401, headers: { 'content-type': 'application/json' } })
    }
    const stepUp = client({ fetch: slowChallenge })
    await expect(stepUp.fetch(`${API}/x`, { signal: controller.signal })).rejects.toBe(controller.signal.reason)
    expect(op.authorizations).toHaveLength(0)
  })
})

describe('hostile and inconsistent servers', () => {
  it('ignores a challenge from a server reached by following a redirect off the allowlist', async () => {
    const interaction = vi.fn(op.interaction)
    const redirected: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (!url.startsWith(API)) return globalThis.fetch(input, init)
      const response = new Response(null, { status: 401, headers: { 'WWW-Authenticate': challengeHeader('urn:attacker') } })
      Object.defineProperties(response, { redirected: { value: true }, url: { value: 'https://attacker.test/landing' } })
      return response
    }
    const stepUp = client({ fetch: redirected, interaction })
    const res = await stepUp.fetch(`${API}/moved`)
    expect(res.status).toBe(401)
    expect(interaction).not.toHaveBeenCalled()
  })

  it('runs the step-up when the API also refuses a held token our acceptAcr thought good enough', async () => {
    // The app treats 2fa as meeting "silver"; this API does not, and wants a fresh silver login.
    server.use(
      http.get(`${API}/silver`, ({ request }) =>
        op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:silver'
          ? HttpResponse.json({ ok: true })
          : new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': challengeHeader('urn:test:silver') } }),
      ),
    )
    const acceptAcr = (required: readonly string[], acr: string | undefined) =>
      required.length === 0 || (acr !== undefined && (required.includes(acr) || acr === 'urn:test:2fa'))
    const stepUp = client({ acceptAcr })
    await stepUp.authorize() // the baseline (1fa) goes first and is refused…
    await stepUp.authorize({ acrValues: ['urn:test:2fa'] }) // …then this held 2fa token is tried
    const res = await stepUp.fetch(`${API}/silver`)
    expect(res.status).toBe(200)
    expect(op.authorizations.map((u) => u.searchParams.get('acr_values'))).toEqual([null, 'urn:test:2fa', 'urn:test:silver'])
  })

  it('after loop_detected, the next request gets a fresh step-up instead of failing again', async () => {
    // This API refuses the first 2fa token it ever sees (say, a revoked session) and accepts later ones.
    let refused: string | null = null
    server.use(
      http.get(`${API}/moody`, ({ request }) => {
        const authorization = request.headers.get('authorization')
        if (op.claimsOf(authorization)?.acr === 'urn:test:2fa' && refused !== null && authorization !== refused) return HttpResponse.json({ ok: true })
        if (op.claimsOf(authorization)?.acr === 'urn:test:2fa') refused = authorization
        return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': challengeHeader('urn:test:2fa') } })
      }),
    )
    const stepUp = client()
    await expect(stepUp.fetch(`${API}/moody`)).rejects.toMatchObject({ code: 'loop_detected' })
    expect((await stepUp.fetch(`${API}/moody`)).status).toBe(200)
    expect(op.authorizations).toHaveLength(2)
  })
})

describe('TokenSet', () => {
  const token = (n: number, requirement?: { acrValues: string[] }): TokenRecord => ({
    accessToken: `t${n}`, tokenType: 'Bearer', idToken: '', sub: 'alice', obtainedAt: n, ...(requirement ? { requirement } : {}),
  })
  it('evicts the oldest elevated token, never the baseline, past its bound', () => {
    const set = new TokenSet()
    const sameKey = (a: TokenRecord, b: TokenRecord) => JSON.stringify(a.requirement) === JSON.stringify(b.requirement)
    set.add(token(0), sameKey)
    for (let i = 1; i <= 10; i++) set.add(token(i, { acrValues: [`acr-${i}`] }), sameKey)
    expect(set.tokens).toHaveLength(8)
    expect(set.baseline(Date.now())?.accessToken).toBe('t0')
    expect(set.tokens.map((t) => t.accessToken)).toEqual(['t0', 't4', 't5', 't6', 't7', 't8', 't9', 't10'])
  })
})

describe('robustness of state and callbacks', () => {
  it('keeps working when a subscribe() listener throws: the error is reported, flows stay typed', async () => {
    const report = vi.spyOn(console, 'error').mockImplementation(() => {})
    const unhandled = vi.fn()
    process.on('unhandledRejection', unhandled)
    try {
      const stepUp = client()
      const unsubscribe = stepUp.subscribe(() => {
        throw new Error('listener bug')
      })
      await stepUp.authorize()
      unsubscribe()
      expect(report).toHaveBeenCalledWith('[stepup-fetch] a subscribe() listener threw:', expect.objectContaining({ message: 'listener bug' }))
      await expect(stepUp.authorize({ acrValues: ['urn:test:2fa'] })).resolves.toBeUndefined()
      await new Promise((resolve) => setTimeout(resolve, 10))
      expect(unhandled).not.toHaveBeenCalled()
      expect(stepUp.getState()).toMatchObject({ status: 'idle', acr: 'urn:test:2fa' })
    } finally {
      process.off('unhandledRejection', unhandled)
    }
  })

  it('remembers what a route demanded even when the challenged request carried no token', async () => {
    server.use(
      http.post(`${API}/tokenless`, ({ request }) =>
        op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:2fa'
          ? HttpResponse.json({ ok: true })
          : new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': challengeHeader('urn:test:2fa') } }),
      ),
    )
    let sends = 0
    server.events.on('request:start', ({ request }) => void (request.url.endsWith('/tokenless') && sends++))
    const stepUp = client()
    expect((await stepUp.fetch(`${API}/tokenless`, { method: 'POST', body: 'a' })).status).toBe(200)
    await stepUp.authorize() // now a 1fa baseline exists, which the route must not get
    sends = 0
    expect((await stepUp.fetch(`${API}/tokenless`, { method: 'POST', body: 'b' })).status).toBe(200)
    expect(sends).toBe(1)
    server.events.removeAllListeners()
  })

  it('ends a successful flow idle, even if a stray callback set an error while it ran', async () => {
    const { promise: gate, resolve: release } = deferred()
    const { promise: inInteraction, resolve: entered } = deferred()
    const stepUp = client({
      interaction: async (url, ctx) => {
        entered()
        await gate
        return op.interaction(url, ctx)
      },
    })
    const login = stepUp.authorize()
    await inInteraction
    await expect(stepUp.handleCallback(`${REDIRECT_URI}?code=x&state=stale`)).rejects.toMatchObject({ code: 'state_mismatch' })
    expect(stepUp.getState().status).toBe('error')
    release()
    await login
    expect(stepUp.getState().status).toBe('idle')
    expect(stepUp.getState().error).toBeUndefined()
  })

  it('rejects (never throws) when handleCallback() gets no usable URL', async () => {
    const stepUp = client()
    let result: Promise<unknown> | undefined
    expect(() => (result = stepUp.handleCallback('not a url'))).not.toThrow()
    await expect(result).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('bad option values get a coded TypeError that names the value', () => {
  const base = { issuer: 'https://op.example', clientId: 'c', redirectUri: 'https://app.example/cb', protect: ['https://api.example'], interaction: async () => 'x' }
  const circular: Record<string, unknown> = {}
  circular.self = circular
  it.each([
    ['clockTolerance', Number.NaN, 'got NaN'],
    ['clockTolerance', Number.POSITIVE_INFINITY, 'got Infinity'],
    ['clockTolerance', 5n, 'got 5'],
    ['requestAcrWith', 1n, ''],
    ['interaction', circular, ''],
    ['storage', Symbol('s'), ''],
  ])('%s: %s', (name, value, mentions) => {
    let thrown: unknown
    try {
      createStepUp({ ...base, [name]: value } as never)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect((thrown as { code?: string }).code).toMatch(/^ERR_INVALID_ARG_(TYPE|VALUE)$/)
    expect((thrown as Error).message).toContain(`"${name}"`)
    expect((thrown as Error).message).toContain(mentions)
  })

  it.each([Number.NaN, 5n, 1.5])('authorize({ maxAge: %s }) rejects with a coded TypeError', async (maxAge) => {
    const stepUp = createStepUp(base)
    await expect(stepUp.authorize({ maxAge: maxAge as number })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('"maxAge"') })
  })
})
