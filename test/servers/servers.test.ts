// @vitest-environment node
//
// The demo/test servers, end to end, without the SDK: oauth4webapi as a minimal
// client, the headless user agent from ./login.ts, the real OP and the real API.

import * as oauth from 'oauth4webapi'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ACR_1FA, ACR_2FA, startOp, type RunningOp } from '../../servers/op.js'
import { startApi, type RunningApi } from '../../servers/api.js'
import { createUserAgent, UserAgentError } from './login.js'
import { connect, type RelyingParty } from './oauth-client.js'

const SPA_ORIGIN = 'http://127.0.0.1:5173'

let op: RunningOp
let api: RunningApi
let hiddenApi: RunningApi
let as: oauth.AuthorizationServer
let client: oauth.Client
let authorize: RelyingParty['authorize']
let login: RelyingParty['login']

beforeAll(async () => {
  op = await startOp()
  ;[api, hiddenApi] = await Promise.all([
    startApi({ issuer: op.issuer, audience: op.resource }),
    startApi({ issuer: op.issuer, audience: op.resource, exposeWwwAuthenticate: false, jsonBodyChallenge: false }),
  ])
  ;({ as, client, authorize, login } = await connect(op))
})

afterAll(async () => {
  await Promise.all([op?.close(), api?.close(), hiddenApi?.close()])
})

afterEach(() => {
  op.resetKnobs()
})

const get = (path: string, token?: string, base = api.url) =>
  fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} })

const postJson = (path: string, token: string, body: unknown) =>
  fetch(api.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

const now = () => Math.floor(Date.now() / 1000)

describe('OP discovery and CORS', () => {
  it('publishes the step-up metadata', () => {
    expect(as.issuer).toBe(op.issuer)
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(as.acr_values_supported).toEqual([ACR_1FA, ACR_2FA])
    expect(as.claims_parameter_supported).toBe(true)
    expect(as.code_challenge_methods_supported).toEqual(['S256'])
    expect(as.authorization_response_iss_parameter_supported).toBe(true)
    expect(as.claims_supported).toEqual(expect.arrayContaining(['acr', 'amr', 'auth_time']))
  })

  it('answers CORS on discovery, jwks and the token endpoint for the SPA origin', async () => {
    for (const url of [`${op.issuer}/.well-known/openid-configuration`, as.jwks_uri!]) {
      const res = await fetch(url, { headers: { origin: SPA_ORIGIN } })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
    }
    const preflight = await fetch(as.token_endpoint!, {
      method: 'OPTIONS',
      headers: {
        origin: SPA_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,dpop',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)

    // A real token request (bad code) from the SPA origin gets CORS headers; another origin is refused.
    const tokenRequest = (origin: string) =>
      fetch(as.token_endpoint!, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: op.clientId,
          code: 'nope',
          redirect_uri: op.redirectUri,
          code_verifier: 'x'.repeat(43),
        }),
      })
    const fromSpa = await tokenRequest(SPA_ORIGIN)
    expect(fromSpa.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
    expect((await fromSpa.json()).error).toBe('invalid_grant')
    const fromElsewhere = await tokenRequest('http://evil.example')
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull()
    expect(await fromElsewhere.json()).toMatchObject({ error: 'invalid_request' })
  })
})

describe('login and step-up with one user agent (one SSO session)', () => {
  const ua = createUserAgent()
  let baseline: Awaited<ReturnType<typeof login>>

  it('password-only login gives acr 1fa in the ID token and the JWT access token', async () => {
    baseline = await login(ua, { acrValues: ACR_1FA })
    expect(ua.authorizations).toBe(1)
    expect(ua.flows[0]).toMatchObject({ loginShown: true, otpAsked: false })

    // RFC 9207: iss in the authorization response.
    expect(baseline.callback.searchParams.get('iss')).toBe(op.issuer)

    expect(baseline.idToken).toMatchObject({ sub: 'alice', acr: ACR_1FA, amr: ['pwd'] })
    expect(baseline.idToken.auth_time).toBeGreaterThanOrEqual(now() - 5)

    expect(decodeProtectedHeader(baseline.accessToken)).toMatchObject({ typ: 'at+jwt', alg: 'ES256' })
    const at = decodeJwt(baseline.accessToken)
    expect(at).toMatchObject({
      iss: op.issuer,
      aud: op.resource,
      sub: 'alice',
      client_id: op.clientId,
      acr: ACR_1FA,
      amr: ['pwd'],
      auth_time: baseline.idToken.auth_time,
    })
    expect(at.exp! - at.iat!).toBe(300)
  })

  it('the API accepts the 1fa token for GET /api/balance', async () => {
    const res = await get('/api/balance', baseline.accessToken)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({
      balance: 1234.56,
      currency: 'EUR',
      sub: 'alice',
      acr: ACR_1FA,
      auth_time: baseline.idToken.auth_time,
    })
  })

  it('POST /api/transfer answers the RFC 9470 challenge to a 1fa token', async () => {
    const res = await postJson('/api/transfer', baseline.accessToken, { to: 'bob', amount: 10 })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:demo:loa:2fa", max_age=300',
    )
    expect(await res.json()).toEqual({
      error: 'insufficient_user_authentication',
      error_description: 'A different authentication level is required',
      acr_values: ACR_2FA,
      max_age: 300,
    })
  })

  let elevated: Awaited<ReturnType<typeof login>>

  it('a step-up to 2fa with the same user agent asks for the one-time code and returns acr 2fa', async () => {
    elevated = await login(ua, { acrValues: ACR_2FA, maxAge: 300 }, { otp: true })
    expect(ua.authorizations).toBe(2)
    expect(ua.flows[1]).toMatchObject({ loginShown: true, otpAsked: true })
    expect(elevated.idToken).toMatchObject({ sub: 'alice', acr: ACR_2FA, amr: ['pwd', 'otp'] })
    expect(decodeJwt(elevated.accessToken)).toMatchObject({ acr: ACR_2FA, amr: ['pwd', 'otp'] })
    expect(op.logins.at(-1)).toMatchObject({ accountId: 'alice', acr: ACR_2FA })
  })

  it('the 2fa token passes POST /api/transfer', async () => {
    const res = await postJson('/api/transfer', elevated.accessToken, { to: 'bob', amount: 10 })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true, transferred: { to: 'bob', amount: 10 }, acr: ACR_2FA })
  })

  it('while the session is 2fa, another 2fa request follows straight through (no login page)', async () => {
    const again = await login(ua, { acrValues: ACR_2FA })
    expect(ua.authorizations).toBe(3)
    expect(ua.flows[2]).toMatchObject({ loginShown: false })
    expect(again.idToken).toMatchObject({ acr: ACR_2FA, auth_time: elevated.idToken.auth_time })
  })

  it('a request for exactly 1fa over the 2fa session asks again (the acr is not among acr_values)', async () => {
    const down = await login(ua, { acrValues: ACR_1FA })
    expect(ua.flows.at(-1)).toMatchObject({ loginShown: true, otpAsked: false })
    expect(down.idToken.acr).toBe(ACR_1FA)
  })

  it('max_age=0 forces a new login even though the session satisfies the acr', async () => {
    const fresh = await login(ua, { acrValues: ACR_2FA, maxAge: 0 }, { otp: true })
    expect(ua.flows.at(-1)).toMatchObject({ loginShown: true, otpAsked: true })
    expect(fresh.idToken.acr).toBe(ACR_2FA)
    const res = await get('/api/fresh', fresh.accessToken)
    expect(res.status).toBe(200)
  })
})

describe('what the OP does with odd requests', () => {
  it('a 2fa request answered without the code: the OP asks once, then returns acr 1fa', async () => {
    const ua = createUserAgent()
    await login(ua, {}, {})
    const result = await login(ua, { acrValues: ACR_2FA })
    expect(ua.flows[1]).toMatchObject({ loginShown: true, otpAsked: true })
    expect(result.idToken.acr).toBe(ACR_1FA)
  })

  it('a wrong one-time code is refused on the page', async () => {
    const ua = createUserAgent()
    await expect(login(ua, { acrValues: ACR_2FA }, { otp: '000000' })).rejects.toThrow(
      /login page again.*one-time code is not correct/,
    )
  })

  it('setLoginAcr makes a 2fa request come back 1fa even with the right code', async () => {
    const ua = createUserAgent()
    op.setLoginAcr(ACR_1FA)
    const result = await login(ua, { acrValues: ACR_2FA }, { otp: true })
    expect(result.idToken.acr).toBe(ACR_1FA)
    expect(decodeJwt(result.accessToken).acr).toBe(ACR_1FA)
  })

  it('setInteractionError gives an error callback with state, even over an SSO session', async () => {
    const ua = createUserAgent()
    await login(ua)
    op.setInteractionError('unmet_authentication_requirements', 'no second factor enrolled')
    const { callback, state } = await authorize(ua, { acrValues: ACR_2FA }, { otp: true })
    expect(callback.origin + callback.pathname).toBe(op.redirectUri)
    expect(Object.fromEntries(callback.searchParams)).toEqual({
      error: 'unmet_authentication_requirements',
      error_description: 'no second factor enrolled',
      state,
      iss: op.issuer,
    })
    expect(() => oauth.validateAuthResponse(as, client, callback, state)).toThrow(oauth.AuthorizationResponseError)
  })

  it('Cancel on the login page gives access_denied', async () => {
    const ua = createUserAgent()
    const { callback, state } = await authorize(ua, {}, { cancel: true })
    expect(callback.searchParams.get('error')).toBe('access_denied')
    expect(callback.searchParams.get('state')).toBe(state)
  })

  describe('claims parameter with an essential acr', () => {
    const essential2fa = { id_token: { acr: { essential: true, values: [ACR_2FA] } } }

    it('asks for the code over a 1fa session and returns 2fa', async () => {
      const ua = createUserAgent()
      await login(ua)
      const result = await login(ua, { claims: essential2fa }, { otp: true })
      expect(ua.flows[1]).toMatchObject({ loginShown: true, otpAsked: true })
      expect(result.idToken.acr).toBe(ACR_2FA)
    })

    it('is enforced by the OP: no 1fa result without the code', async () => {
      const ua = createUserAgent()
      await expect(login(ua, { claims: essential2fa })).rejects.toThrow(/requires the one-time code/)
    })

    it('setLoginAcr still gets a lower acr through (no re-prompt loop)', async () => {
      const ua = createUserAgent()
      op.setLoginAcr(ACR_1FA)
      const result = await login(ua, { claims: essential2fa }, { otp: true })
      expect(result.idToken.acr).toBe(ACR_1FA)
    })
  })

  it('the API scope ends up in the access token when requested', async () => {
    const result = await login(createUserAgent(), { scope: 'openid api' })
    expect(decodeJwt(result.accessToken)).toMatchObject({ scope: 'api', aud: op.resource, acr: ACR_1FA })
    expect((await get('/api/balance', result.accessToken)).status).toBe(200)
  })

  it('setAccountId switches the user during a step-up', async () => {
    const ua = createUserAgent()
    const first = await login(ua)
    expect(first.idToken.sub).toBe('alice')
    op.setAccountId('mallory')
    const second = await login(ua, { acrValues: ACR_2FA }, { otp: true })
    expect(second.idToken).toMatchObject({ sub: 'mallory', acr: ACR_2FA })
  })

  it('setNextLogin decides the outcome in code', async () => {
    const ua = createUserAgent()
    op.setNextLogin(({ requested }) => ({ acr: 'urn:other:loa', amr: ['mfa'], authTimeAgo: 1000, accountId: `x-${requested.length}` }))
    const result = await login(ua, { acrValues: ACR_2FA }, { otp: true })
    expect(result.idToken).toMatchObject({ sub: 'x-1', acr: 'urn:other:loa', amr: ['mfa'] })
    expect(result.idToken.auth_time).toBeLessThanOrEqual(now() - 999)
  })

  it('setAuthTimeAgo makes a 2fa token too old for max_age=300', async () => {
    const ua = createUserAgent()
    op.setAuthTimeAgo(400)
    const result = await login(ua, { acrValues: ACR_2FA }, { otp: true })
    expect(result.idToken.acr).toBe(ACR_2FA)
    const res = await postJson('/api/transfer', result.accessToken, {})
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="urn:demo:loa:2fa", max_age=300',
    )
  })
})

describe('user agent', () => {
  it('rejects with the signal reason when aborted during delayMs, and counts the flow', async () => {
    const ua = createUserAgent()
    const controller = new AbortController()
    const reason = new Error('stop')
    const url = new URL(as.authorization_endpoint!)
    const seen: URL[] = []
    const pending = ua.interaction({ delayMs: 10_000, onAuthorizationUrl: (u) => seen.push(u) })(url, {
      signal: controller.signal,
    })
    setTimeout(() => controller.abort(reason), 20)
    await expect(pending).rejects.toBe(reason)
    expect(ua.authorizations).toBe(1)
    expect(seen).toHaveLength(1)
  })

  it('rejects with the signal reason when already aborted', async () => {
    const ua = createUserAgent()
    const { promise } = (() => {
      const controller = new AbortController()
      controller.abort()
      return { promise: ua.interaction()(new URL(as.authorization_endpoint!), { signal: controller.signal }) }
    })()
    await expect(promise).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('reports an OP error page as a UserAgentError', async () => {
    const ua = createUserAgent()
    const url = new URL(as.authorization_endpoint!)
    url.searchParams.set('client_id', 'unknown')
    await expect(ua.interaction()(url, { signal: AbortSignal.timeout(5_000) })).rejects.toBeInstanceOf(UserAgentError)
  })
})

describe('API', () => {
  let token2fa: string
  let token1fa: string

  beforeAll(async () => {
    const ua = createUserAgent()
    token1fa = (await login(ua)).accessToken
    token2fa = (await login(ua, { acrValues: ACR_2FA }, { otp: true })).accessToken
  })

  it('no token: 401 Bearer realm; bad token: invalid_token', async () => {
    const none = await get('/api/balance')
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="api"')
    const bad = await get('/api/balance', token1fa.slice(0, -4) + 'AAAA')
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="api", error="invalid_token"/)
    expect(api.requests.at(-1)).toMatchObject({ path: '/api/balance', authorization: true, status: 401, error: 'invalid_token' })
  })

  it('GET /api/public needs nothing; unknown paths are 404', async () => {
    expect((await get('/api/public')).status).toBe(200)
    expect((await get('/api/nope', token2fa)).status).toBe(404)
  })

  it('POST /api/echo gives back the exact body bytes (2fa)', async () => {
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255, 10, 13])
    const challenged = await fetch(`${api.url}/api/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token1fa}` },
      body: bytes,
    })
    expect(challenged.status).toBe(401)
    expect(challenged.headers.get('www-authenticate')).toContain('acr_values="urn:demo:loa:2fa"')
    expect(challenged.headers.get('www-authenticate')).not.toContain('max_age')

    const res = await fetch(`${api.url}/api/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token2fa}`, 'content-type': 'application/octet-stream', 'x-test': 'yes' },
      body: bytes,
    })
    expect(res.status).toBe(200)
    const echo = await res.json()
    expect(echo).toMatchObject({ method: 'POST', contentType: 'application/octet-stream', bodyLength: bytes.length })
    expect(new Uint8Array(Buffer.from(echo.bodyBase64, 'base64'))).toEqual(bytes)
    expect(echo.headers['x-test']).toBe('yes')
  })

  it('GET /api/always-challenge challenges even a 2fa token', async () => {
    const res = await get('/api/always-challenge', token2fa)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"')
  })

  it('extra routes via options', async () => {
    const custom = await startApi({
      issuer: op.issuer,
      audience: op.resource,
      routes: [{ method: 'DELETE', path: '/api/account', acr: ACR_2FA, maxAge: 60, respond: () => ({ deleted: true }) }],
    })
    try {
      const challenged = await fetch(`${custom.url}/api/account`, { method: 'DELETE', headers: { authorization: `Bearer ${token1fa}` } })
      expect(challenged.headers.get('www-authenticate')).toContain('acr_values="urn:demo:loa:2fa", max_age=60')
      const ok = await fetch(`${custom.url}/api/account`, { method: 'DELETE', headers: { authorization: `Bearer ${token2fa}` } })
      expect(await ok.json()).toEqual({ deleted: true })
    } finally {
      await custom.close()
    }
  })

  it('records each request', async () => {
    api.resetRequests()
    await get('/api/balance', token1fa)
    await postJson('/api/transfer', token1fa, {})
    expect(api.requests).toEqual([
      expect.objectContaining({ method: 'GET', path: '/api/balance', authorization: true, acr: ACR_1FA, status: 200 }),
      expect.objectContaining({ method: 'POST', path: '/api/transfer', acr: ACR_1FA, status: 401, error: 'insufficient_user_authentication' }),
    ])
  })

  it('answers CORS preflights and exposes WWW-Authenticate (or not)', async () => {
    const preflight = await fetch(`${api.url}/api/transfer`, {
      method: 'OPTIONS',
      headers: {
        origin: SPA_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')

    const exposed = await fetch(`${api.url}/api/transfer`, {
      method: 'POST',
      headers: { origin: SPA_ORIGIN, authorization: `Bearer ${token1fa}` },
    })
    expect(exposed.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
    expect(exposed.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate, DPoP-Nonce')

    const hidden = await fetch(`${hiddenApi.url}/api/transfer`, {
      method: 'POST',
      headers: { origin: SPA_ORIGIN, authorization: `Bearer ${token1fa}` },
    })
    expect(hidden.status).toBe(401)
    expect(hidden.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
    expect(hidden.headers.get('access-control-expose-headers')).toBe('DPoP-Nonce')
    // jsonBodyChallenge: false → no challenge in the body either
    expect(await hidden.json()).not.toHaveProperty('error')
  })

  it('configure() switches the CORS exposure and the JSON body at run time', async () => {
    const transfer = () => fetch(`${hiddenApi.url}/api/transfer`, { method: 'POST', headers: { origin: SPA_ORIGIN, authorization: `Bearer ${token1fa}` } })
    try {
      expect(hiddenApi.configure({ jsonBodyChallenge: true })).toEqual({ exposeWwwAuthenticate: false, jsonBodyChallenge: true, requireDpopNonce: false })
      const bodyOnly = await transfer()
      expect(bodyOnly.headers.get('access-control-expose-headers')).toBe('DPoP-Nonce')
      expect(await bodyOnly.json()).toMatchObject({ error: 'insufficient_user_authentication', acr_values: ACR_2FA, max_age: 300 })

      expect(hiddenApi.configure({ exposeWwwAuthenticate: true })).toEqual({ exposeWwwAuthenticate: true, jsonBodyChallenge: true, requireDpopNonce: false })
      expect((await transfer()).headers.get('access-control-expose-headers')).toBe('WWW-Authenticate, DPoP-Nonce')
    } finally {
      hiddenApi.configure({ exposeWwwAuthenticate: false, jsonBodyChallenge: false })
    }
    expect((await transfer()).headers.get('access-control-expose-headers')).toBe('DPoP-Nonce')
  })
})
