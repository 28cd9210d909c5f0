import { http, HttpResponse } from 'msw'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createStepUp, isStepUpError, StepUpError, type StepUpOptions } from '../../src/index.js'
import type { FakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, ISSUER, REDIRECT_URI, type FakeOp } from '../msw/fake-op.js'
import { useFakeServers } from '../msw/use-fake-servers.js'
import { deferred } from '../deferred.js'

const fakes = useFakeServers()
const { server } = fakes
let op: FakeOp
let api: FakeApi
beforeEach(() => ({ op, api } = fakes))

function client(overrides: Partial<StepUpOptions> = {}) {
  return createStepUp({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], interaction: op.interaction, ...overrides })
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('stepUp.fetch: login, step-up, retry', () => {
  it('sends no token before login and returns a plain 401 untouched', async () => {
    const stepUp = client()
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(401)
    expect(api.calls).toHaveLength(1)
    expect(api.calls[0]!.authorization).toBeNull()
    expect(op.authorizations).toHaveLength(0)
  })

  it('authorize() signs in without acr; the baseline token reaches protected URLs', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const auth = op.authorizations[0]!
    expect(auth.searchParams.get('acr_values')).toBeNull()
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256')
    expect(auth.searchParams.get('state')).toMatch(/.{20,}/)
    expect(auth.searchParams.get('nonce')).toMatch(/.{20,}/)
    expect(op.tokenRequests[0]!.get('code_verifier')).toMatch(/.{43,}/)
    const res = await stepUp.fetch(`${API}/balance`)
    expect(res.status).toBe(200)
    expect(stepUp.getState()).toMatchObject({ status: 'idle', authenticated: true, sub: 'alice', acr: 'urn:test:1fa' })
  })

  it('turns a challenge into one verified step-up and one retry with the same body', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: '{"amount":5}', headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(200)
    expect(op.authorizations).toHaveLength(2)
    const stepUpRequest = op.authorizations[1]!
    expect(stepUpRequest.searchParams.get('acr_values')).toBe('urn:test:2fa')
    expect(stepUpRequest.searchParams.get('max_age')).toBe('300')
    expect(stepUpRequest.searchParams.get('claims')).toBeNull()
    const transfers = api.calls.filter((c) => c.path === '/transfer')
    expect(transfers).toHaveLength(2)
    expect(transfers[1]!.body).toBe(transfers[0]!.body)
    expect(Buffer.from(transfers[1]!.body, 'base64').toString()).toBe('{"amount":5}')
    expect(transfers[1]!.contentType).toBe('application/json')
    expect(transfers[1]!.authorization).not.toBe(transfers[0]!.authorization)
    expect(stepUp.getState().acr).toBe('urn:test:2fa')
  })

  it('reuses the elevated token for the same route without a new challenge, and keeps the baseline for others', async () => {
    const stepUp = client()
    await stepUp.authorize()
    await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'a' })
    api.calls.length = 0
    expect((await stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'b' })).status).toBe(200)
    expect(api.calls).toHaveLength(1)
    expect(op.authorizations).toHaveLength(2)
    await stepUp.fetch(`${API}/balance`)
    const [transfer, balance] = api.calls
    expect(op.claimsOf(balance!.authorization)?.acr).toBe('urn:test:1fa')
    expect(op.claimsOf(transfer!.authorization)?.acr).toBe('urn:test:2fa')
  })

  it('handles 403 challenges too', async () => {
    server.use(
      http.get(`${API}/forbidden`, ({ request }) =>
        op.claimsOf(request.headers.get('authorization'))?.acr === 'urn:test:2fa'
          ? HttpResponse.json({ ok: true })
          : new HttpResponse(null, { status: 403, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:test:2fa"' } }),
      ),
    )
    const stepUp = client()
    await stepUp.authorize()
    expect((await stepUp.fetch(`${API}/forbidden`)).status).toBe(200)
  })

  it('sends the requirement as an essential claims acr with requestAcrWith', async () => {
    for (const mode of ['claims', 'both'] as const) {
      op.authorizations.length = 0
      const stepUp = client({ requestAcrWith: mode })
      await stepUp.authorize({ acrValues: ['urn:test:2fa', 'urn:test:1fa'] })
      const params = op.authorizations[0]!.searchParams
      expect(JSON.parse(params.get('claims')!)).toEqual({ id_token: { acr: { essential: true, values: ['urn:test:2fa', 'urn:test:1fa'] } } })
      expect(params.get('acr_values')).toBe(mode === 'both' ? 'urn:test:2fa urn:test:1fa' : null)
    }
  })

  it('warns once when the OP does not list a required acr', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const stepUp = client()
    await stepUp.authorize({ acrValues: ['urn:test:unlisted'] })
    await stepUp.authorize({ acrValues: ['urn:test:unlisted'] })
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]![0])).toMatch(/^\[stepup-fetch\].*urn:test:unlisted/)
  })
})

describe('stepUp.fetch: untouched responses and the protect allowlist', () => {
  it('returns the very Response the underlying fetch gave, body unread, for every non-challenge', async () => {
    const responses = [
      new Response('ok', { status: 200 }),
      new Response('boom', { status: 500 }),
      new Response('no', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } }),
      new Response('third', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="x"' } }),
      // Malformed (unterminated quote; duplicate parameter): fails closed, not a step-up.
      new Response('bad', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="x' } }),
      new Response('dup', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", error="insufficient_user_authentication"' } }),
      new Response('moved', { status: 302, headers: { location: '/elsewhere' } }),
    ]
    const urls = [`${API}/a`, `${API}/b`, `${API}/c`, 'https://third.party/x', `${API}/d`, `${API}/e`, `${API}/f`]
    const seen: Request[] = []
    let i = 0
    const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input, init))
      return responses[i++]!
    })
    const interaction = vi.fn(op.interaction)
    const stepUp = client({ fetch, interaction })
    for (const [n, url] of urls.entries()) {
      const res = await stepUp.fetch(url)
      expect(res).toBe(responses[n])
      expect(res.bodyUsed).toBe(false)
    }
    expect(interaction).not.toHaveBeenCalled()
    expect(seen[3]!.headers.get('authorization')).toBeNull()
  })

  it('never starts an authorization for a challenge from an unprotected origin', async () => {
    server.use(http.get('https://evil.test/x', () => new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:test:2fa"' } })))
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch('https://evil.test/x')
    expect(res.status).toBe(401)
    expect(op.authorizations).toHaveLength(1)
  })

  it('matches string entries on origin and path segment boundaries', async () => {
    const sent: Array<[string, boolean]> = []
    const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      // What goes on the wire, whether the SDK passed a Request or (url, init).
      const url = new URL(input instanceof Request ? input.url : String(input)).href
      sent.push([url, (input instanceof Request ? input.headers : new Headers(init?.headers)).has('authorization')])
      return new Response('ok')
    }
    // OP traffic goes to msw; everything else is recorded.
    const probe = client({
      protect: ['https://api.x:4567/v1', 'https://api.y'],
      fetch: (input, init) => (new URL(input instanceof Request ? input.url : String(input)).origin === ISSUER ? globalThis.fetch(input, init) : fetch(input, init)),
    })
    await probe.authorize()
    const cases: Array<[string, boolean]> = [
      ['https://api.x:4567/v1', true],
      ['https://api.x:4567/v1/', true],
      ['https://api.x:4567/v1/a?b=c', true],
      ['https://api.x:4567/v10', false],
      ['https://api.x:45671/v1', false],
      ['https://api.x/v1', false],
      ['http://api.x:4567/v1', false],
      ['https://api.x:4567/v2', false],
      ['https://api.x:4567/v1/../admin', false],
      ['https://api.y', true],
      ['https://api.y/anything', true],
      ['https://api.y.evil.com/', false],
      ['https://api.y@evil.com/', false],
      ['https://evil.com/https://api.y', false],
      ['https://API.Y/upper', true],
    ]
    for (const [url] of cases) await probe.fetch(url)
    expect(sent.map(([url, withToken]) => [url, withToken])).toEqual(cases.map(([url, expected]) => [new URL(url).href, expected]))
  })

  it('rejects bad options with a coded TypeError', () => {
    const base = { issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API] }
    const bad: Array<[Partial<StepUpOptions> | Record<string, unknown>, string, RegExp]> = [
      [{ issuer: 'http://op.example.com' }, 'ERR_INVALID_ARG_VALUE', /https/],
      [{ issuer: 'not a url' }, 'ERR_INVALID_ARG_VALUE', /absolute URL/],
      [{ protect: [] }, 'ERR_INVALID_ARG_TYPE', /"protect" must be a non-empty array or a function/],
      [{ protect: ['/relative'] }, 'ERR_INVALID_ARG_VALUE', /protect/],
      [{ clientId: '' }, 'ERR_INVALID_ARG_TYPE', /clientId/],
      [{ scope: 'profile' }, 'ERR_INVALID_ARG_VALUE', /openid/],
      [{ interaction: 'window' }, 'ERR_INVALID_ARG_VALUE', /interaction/],
      [{ storage: 'local' }, 'ERR_INVALID_ARG_VALUE', /storage/],
      [{ requestAcrWith: 'header' }, 'ERR_INVALID_ARG_VALUE', /requestAcrWith/],
      [{ clockTolerance: -1 }, 'ERR_INVALID_ARG_VALUE', /clockTolerance/],
      [{ dpop: 'yes' }, 'ERR_INVALID_ARG_TYPE', /"dpop" must be a boolean/],
    ]
    for (const [patch, code, message] of bad) {
      let thrown: unknown
      try {
        createStepUp({ ...base, ...patch } as StepUpOptions)
      } catch (error) {
        thrown = error
      }
      expect(thrown, JSON.stringify(patch)).toBeInstanceOf(TypeError)
      expect(thrown).toMatchObject({ code })
      expect((thrown as Error).message).toMatch(message)
    }
    for (const issuer of ['http://127.0.0.1:3000', 'http://localhost', 'http://[::1]:8080']) {
      expect(() => createStepUp({ ...base, issuer })).not.toThrow()
    }
  })
})

describe('verification after the flow', () => {
  const cases: Array<{ description: string; login: (url: URL) => { sub?: string; acr?: string | undefined; auth_time?: number | undefined }; code: string; message: RegExp }> = [
    { description: 'a lower acr than required', login: () => ({ sub: 'alice', acr: 'urn:test:1fa', auth_time: now() }), code: 'acr_not_satisfied', message: /urn:test:1fa.*urn:test:2fa/ },
    { description: 'no acr at all', login: () => ({ sub: 'alice', auth_time: now() }), code: 'acr_not_satisfied', message: /no "acr" claim/ },
    { description: 'an auth_time older than max_age', login: () => ({ sub: 'alice', acr: 'urn:test:2fa', auth_time: now() - 400 }), code: 'max_age_exceeded', message: /max_age=300/ },
    { description: 'no auth_time with max_age', login: () => ({ sub: 'alice', acr: 'urn:test:2fa' }), code: 'max_age_exceeded', message: /no "auth_time" claim/ },
    { description: 'a different user', login: () => ({ sub: 'mallory', acr: 'urn:test:2fa', auth_time: now() }), code: 'subject_mismatch', message: /different user/ },
  ]
  for (const { description, login, code, message } of cases) {
    it(`rejects ${description} with ${code}, does not retry, stores nothing`, async () => {
      const stepUp = client()
      await stepUp.authorize()
      op.setLogin(login)
      const error = await rejection(stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'x' }))
      expect(isStepUpError(error, code as StepUpError['code'])).toBe(true)
      expect((error as Error).message).toMatch(message)
      expect((error as StepUpError).challenge).toMatchObject({ acrValues: ['urn:test:2fa'], maxAge: 300, source: 'header' })
      expect(api.calls.filter((c) => c.path === '/transfer')).toHaveLength(1)
      expect(stepUp.getState()).toMatchObject({ status: 'error', acr: 'urn:test:1fa', sub: 'alice' })
      expect(stepUp.getState().error?.code).toBe(code)
      // Nothing was stored: the next request still goes with the baseline token.
      api.calls.length = 0
      await stepUp.fetch(`${API}/balance`)
      expect(op.claimsOf(api.calls[0]!.authorization)?.acr).toBe('urn:test:1fa')
    })
  }

  it('allows clock skew within clockTolerance on auth_time', async () => {
    const stepUp = client()
    op.setLogin(() => ({ sub: 'alice', acr: 'urn:test:2fa', auth_time: now() - 320 }))
    await expect(stepUp.authorize({ acrValues: ['urn:test:2fa'], maxAge: 300 })).resolves.toBeUndefined()
    const strict = client({ clockTolerance: 0 })
    await expect(strict.authorize({ acrValues: ['urn:test:2fa'], maxAge: 300 })).rejects.toMatchObject({ code: 'max_age_exceeded' })
  })

  it('lets acceptAcr accept a higher level and receive [] when nothing is required', async () => {
    const order = ['urn:test:1fa', 'urn:test:2fa']
    const acceptAcr = vi.fn((required: readonly string[], acr: string | undefined) =>
      required.length === 0 || (acr !== undefined && order.indexOf(acr) >= Math.min(...required.map((r) => order.indexOf(r)))))
    const stepUp = client({ acceptAcr })
    op.setLogin(() => ({ sub: 'alice', acr: 'urn:test:2fa', auth_time: now() }))
    await stepUp.authorize({ acrValues: ['urn:test:1fa'] })
    expect(acceptAcr).toHaveBeenCalledWith(['urn:test:1fa'], 'urn:test:2fa')
    await stepUp.authorize({ maxAge: 60 })
    expect(acceptAcr).toHaveBeenCalledWith([], 'urn:test:2fa')
  })

  it('accepts any acr for a challenge with only max_age', async () => {
    server.use(
      http.get(`${API}/recent`, ({ request }) => {
        const claims = op.claimsOf(request.headers.get('authorization'))
        return claims && claims.auth_time! >= now() - 1 && op.authorizations.length > 1
          ? HttpResponse.json({ ok: true })
          : new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", max_age=0' } })
      }),
    )
    const stepUp = client()
    await stepUp.authorize()
    const res = await stepUp.fetch(`${API}/recent`)
    expect(res.status).toBe(200)
    expect(op.authorizations[1]!.searchParams.get('max_age')).toBe('0')
    expect(op.authorizations[1]!.searchParams.get('acr_values')).toBeNull()
  })
})

describe('the loop guard', () => {
  it('ends in loop_detected after exactly one flow when the API keeps challenging', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const error = await rejection(stepUp.fetch(`${API}/always`))
    expect(isStepUpError(error, 'loop_detected')).toBe(true)
    expect(op.authorizations).toHaveLength(2)
    expect(api.calls.filter((c) => c.path === '/always')).toHaveLength(2)
  })

  it('treats a different second challenge as a loop too', async () => {
    let n = 0
    server.use(
      http.get(`${API}/shifting`, () =>
        new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': `Bearer error="insufficient_user_authentication", acr_values="urn:test:${++n === 1 ? '2fa' : '1fa'}"` } }),
      ),
    )
    const stepUp = client()
    await expect(stepUp.fetch(`${API}/shifting`)).rejects.toMatchObject({ code: 'loop_detected' })
    expect(op.authorizations).toHaveLength(1)
  })

  it('runs a real flow when the API refuses a token our own check thought good enough', async () => {
    // This API refuses the first 2fa token it sees (say, its clock says too old) and accepts a newer one.
    let refused: string | null = null
    server.use(
      http.get(`${API}/stricter`, ({ request }) => {
        const authorization = request.headers.get('authorization')
        if (refused !== null && authorization !== refused) return HttpResponse.json({ ok: true })
        refused = authorization
        return new HttpResponse(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:test:2fa"' } })
      }),
    )
    const stepUp = client()
    await stepUp.authorize({ acrValues: ['urn:test:2fa'] })
    const res = await stepUp.fetch(`${API}/stricter`)
    expect(res.status).toBe(200)
    // The held 2fa token was refused, so a new flow ran instead of replaying the same token.
    expect(op.authorizations).toHaveLength(2)
  })
})

describe('single flight', () => {
  it('runs ONE authorization for 20 concurrent challenged requests and retries them all', async () => {
    const stepUp = client()
    await stepUp.authorize()
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stepUp.fetch(`${API}/echo`, { method: 'POST', body: `request ${i}` })),
    )
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
    const bodies = await Promise.all(results.map((r) => r.json() as Promise<{ body: string }>))
    expect(bodies.map((b) => Buffer.from(b.body, 'base64').toString())).toEqual(Array.from({ length: 20 }, (_, i) => `request ${i}`))
    expect(op.authorizations).toHaveLength(2)
    expect(api.calls.filter((c) => c.path === '/echo')).toHaveLength(40)
  })

  it('queues different requirements one after another, reusing what an earlier flow obtained', async () => {
    const interaction = vi.fn(op.interaction)
    const stepUp = client({ interaction })
    await stepUp.authorize()
    const [a, b] = await Promise.all([stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a' }), stepUp.fetch(`${API}/transfer`, { method: 'POST', body: 'b' })])
    expect([a.status, b.status]).toEqual([200, 200])
    // echo needs 2fa; transfer needs 2fa + max_age 300: the second flow found the first one's token fresh enough.
    expect(interaction).toHaveBeenCalledTimes(2)
  })
})

describe('abort', () => {
  function slowInteraction() {
    const { promise: gate, resolve: release } = deferred()
    const signals: AbortSignal[] = []
    // Logins (no acr_values) pass straight through; step-ups wait for release().
    const interaction = vi.fn(async (url: URL, ctx: { signal: AbortSignal; beforeRedirect: () => Promise<void> }) => {
      if (!url.searchParams.has('acr_values')) return op.interaction(url, ctx)
      signals.push(ctx.signal)
      await Promise.race([gate, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))])
      return op.interaction(url, ctx)
    })
    return { interaction, signals, release: () => release() }
  }

  it('rejects only the aborted request with its signal reason; the shared flow goes on for the others', async () => {
    const slow = slowInteraction()
    const stepUp = client({ interaction: slow.interaction })
    await stepUp.authorize()
    const controller = new AbortController()
    const aborted = stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a', signal: controller.signal })
    const other = stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'b' })
    await vi.waitFor(() => expect(slow.signals).toHaveLength(1))
    controller.abort()
    const error = await rejection(aborted)
    expect(error).toBe(controller.signal.reason)
    expect((error as DOMException).name).toBe('AbortError')
    expect(slow.signals[0]!.aborted).toBe(false)
    slow.release()
    expect((await other).status).toBe(200)
    const echoes = api.calls.filter((c) => c.path === '/echo').map((c) => Buffer.from(c.body, 'base64').toString())
    expect(echoes).toEqual(['a', 'b', 'b'])
  })

  it('cancels the flow (interaction signal aborted) when its only request is aborted, and never replays it', async () => {
    const slow = slowInteraction()
    const stepUp = client({ interaction: slow.interaction })
    await stepUp.authorize()
    const tokenRequests = op.tokenRequests.length
    const controller = new AbortController()
    const pending = stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a', signal: controller.signal })
    await vi.waitFor(() => expect(slow.signals).toHaveLength(1))
    const reason = new Error('user navigated away')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    expect(slow.signals[0]!.aborted).toBe(true)
    expect(op.tokenRequests).toHaveLength(tokenRequests)
    expect(api.calls).toHaveLength(1)
    expect(stepUp.getState().status).toBe('idle')
  })

  it('rejects authorize() with StepUpError aborted when its signal fires', async () => {
    const slow = slowInteraction()
    const stepUp = client({ interaction: slow.interaction })
    const controller = new AbortController()
    const pending = stepUp.authorize({ acrValues: ['urn:test:2fa'], signal: controller.signal })
    await vi.waitFor(() => expect(slow.signals).toHaveLength(1))
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'StepUpError', code: 'aborted' })
    expect(slow.signals[0]!.aborted).toBe(true)
  })

  it('rejects an already-aborted request like fetch does, without a flow', async () => {
    const stepUp = client()
    const controller = new AbortController()
    controller.abort()
    await expect(stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a', signal: controller.signal })).rejects.toBe(controller.signal.reason)
    expect(op.authorizations).toHaveLength(0)
  })

  it('logout() cancels pending flows with aborted and forgets tokens', async () => {
    const slow = slowInteraction()
    const stepUp = client({ interaction: slow.interaction })
    await stepUp.authorize()
    const pending = stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'a' })
    await vi.waitFor(() => expect(slow.signals).toHaveLength(1))
    stepUp.logout()
    await expect(pending).rejects.toMatchObject({ code: 'aborted' })
    expect(stepUp.getState()).toEqual({ status: 'idle', authenticated: false })
  })
})

describe('OP errors and tampered callbacks', () => {
  it('maps unmet_authentication_requirements exactly, and other OP errors to authorization_error', async () => {
    for (const [opError, code] of [
      ['unmet_authentication_requirements', 'unmet_authentication_requirements'],
      ['access_denied', 'authorization_error'],
      ['login_required', 'authorization_error'],
    ] as const) {
      const errorCallback = (_: URL, callback: URL) => {
        const url = new URL(REDIRECT_URI)
        url.searchParams.set('error', opError)
        url.searchParams.set('error_description', 'nope')
        url.searchParams.set('state', callback.searchParams.get('state')!)
        url.searchParams.set('iss', ISSUER)
        return url
      }
      const stepUp = client()
      op.setCallback(undefined)
      await stepUp.authorize()
      op.setCallback(errorCallback)
      api.calls.length = 0
      const error = await rejection(stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'x' }))
      expect(error).toMatchObject({ name: 'StepUpError', code, opError, opErrorDescription: 'nope' })
      expect(api.calls).toHaveLength(1)
    }
    expect(op.tokenRequests).toHaveLength(3)
  })

  it('rejects an altered state with state_mismatch before redeeming the code', async () => {
    const stepUp = client()
    await stepUp.authorize()
    op.setCallback((_, callback) => {
      callback.searchParams.set('state', 'forged')
      return callback
    })
    await expect(stepUp.fetch(`${API}/echo`, { method: 'POST', body: 'x' })).rejects.toMatchObject({ code: 'state_mismatch' })
    expect(op.tokenRequests).toHaveLength(1)
    expect(api.calls).toHaveLength(1)
  })

  it('checks RFC 9207 iss on error callbacks too: a foreign or missing iss is invalid_response, not the OP error', async () => {
    for (const iss of ['https://evil.test', null]) {
      op.setCallback((_, callback) => {
        const url = new URL(REDIRECT_URI)
        url.searchParams.set('error', 'unmet_authentication_requirements')
        url.searchParams.set('error_description', 'call +1 555 0100 to verify')
        url.searchParams.set('state', callback.searchParams.get('state')!)
        if (iss) url.searchParams.set('iss', iss)
        return url
      })
      const error = await rejection(client().authorize())
      expect(error).toMatchObject({ code: 'invalid_response' })
      expect((error as StepUpError).opErrorDescription).toBeUndefined()
    }
  })

  it('rejects a callback from another issuer (RFC 9207 mix-up) with invalid_response', async () => {
    op.setCallback((_, callback) => {
      callback.searchParams.set('iss', 'https://evil.test')
      return callback
    })
    await expect(client().authorize()).rejects.toMatchObject({ code: 'invalid_response' })
    expect(op.tokenRequests).toHaveLength(0)
  })

  it('reports an unreachable OP as discovery_error and retries discovery next time', async () => {
    let fail = true
    server.use(http.get(`${ISSUER}/.well-known/openid-configuration`, () => (fail ? HttpResponse.error() : undefined)))
    const stepUp = client()
    await expect(stepUp.authorize()).rejects.toMatchObject({ code: 'discovery_error' })
    fail = false
    server.resetHandlers(...op.handlers, ...api.handlers)
    await expect(stepUp.authorize()).resolves.toBeUndefined()
  })

  it('wraps a custom interaction failure as authorization_error with the cause', async () => {
    const cause = new Error('window crashed')
    const stepUp = client({ interaction: async () => Promise.reject(cause) })
    await expect(stepUp.authorize()).rejects.toMatchObject({ code: 'authorization_error', cause })
  })
})

describe('getState and subscribe', () => {
  it('notifies on every change and keeps the snapshot stable between changes', async () => {
    const stepUp = client()
    const statuses: string[] = []
    const unsubscribe = stepUp.subscribe(() => statuses.push(stepUp.getState().status))
    const before = stepUp.getState()
    expect(stepUp.getState()).toBe(before)
    await stepUp.authorize()
    unsubscribe()
    expect(statuses[0]).toBe('authorizing')
    expect(statuses.at(-1)).toBe('idle')
    expect(stepUp.getState()).not.toBe(before)
    const seen = statuses.length
    await stepUp.authorize()
    expect(statuses).toHaveLength(seen)
  })
})

function now(): number {
  return Math.floor(Date.now() / 1000)
}
