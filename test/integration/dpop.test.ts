// @vitest-environment node
// DPoP (RFC 9449) against the REAL OP (oidc-provider binds access and refresh tokens to the
// proof's key) and the REAL resource server (jose verifies every proof: signature, htm, htu,
// iat, jti replay, ath, nonce, and the key's thumbprint against the token's cnf.jkt).
// The only test double is a recording fetch in front of the real network.
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterEach, describe, expect, it } from 'vitest'
import { ACR_1FA, ACR_2FA } from '../../servers/op.js'
import { createStepUp, isStepUpError, type Interaction, type StepUpOptions } from '../../src/index.js'
import { hasChallengeError } from '../../src/challenge/invalid-token.js'
import { openDpop } from '../../src/dpop/dpop.js'
import { createUserAgent, type UserAgent } from '../servers/login.js'
import { clientOf, useRealServers } from './real-servers.js'

type Servers = ReturnType<typeof useRealServers>

function person(ua: UserAgent): Interaction {
  return (url, ctx) => ua.interaction({ otp: (url.searchParams.get('acr_values') ?? '').includes(ACR_2FA) })(url, ctx)
}

interface Sent {
  url: URL
  method: string
  authorization: string | null
  /** The DPoP proof header, if any. */
  dpop: string | null
  /** For token requests. */
  grant?: string | null
}

/**
 * A fetch that records what goes on the wire (and lets a test meddle with a request first),
 * then sends it for real.
 */
function recorder(meddle?: (request: Request, sent: Sent) => Request | void) {
  const sent: Sent[] = []
  const fetchFn: typeof fetch = async (input, init) => {
    let request = new Request(input, init)
    const grant = init?.body instanceof URLSearchParams ? init.body.get('grant_type') : undefined
    const record: Sent = { url: new URL(request.url), method: request.method, authorization: request.headers.get('authorization'), dpop: request.headers.get('dpop'), ...(grant ? { grant } : {}) }
    request = meddle?.(request, record) ?? request
    sent.push(record)
    return fetch(request)
  }
  return { sent, fetch: fetchFn }
}

function setup(servers: Servers, overrides: Partial<StepUpOptions> = {}, meddle?: (request: Request, sent: Sent) => Request | void) {
  const ua = createUserAgent()
  const wire = recorder(meddle)
  const stepUp = createStepUp({ ...clientOf(servers), interaction: person(ua), fetch: wire.fetch, dpop: true, ...overrides })
  const toApi = () => wire.sent.filter((s) => s.url.origin === servers.api.url)
  const grants = (type: string) => wire.sent.filter((s) => s.grant === type)
  return { ua, stepUp, wire, toApi, grants }
}

const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 13, 10, 0x7b, 0x7d])
const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64')
const thumbprintOf = async (proof: string) => calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK)

describe('DPoP against the real OP and API', () => {
  const servers = useRealServers()
  afterEach(() => void servers.api.configure({ requireDpopNonce: false }))
  const hits = (path: string) => servers.api.requests.filter((r) => r.path === path).map((r) => [r.status, r.scheme, r.error])

  it('signs in with a DPoP-bound token: the API sees the DPoP scheme, a valid proof, and cnf.jkt = the key thumbprint', async () => {
    const { stepUp, wire, toApi, grants } = setup(servers)
    await stepUp.authorize()
    // The code exchange carried a proof (no access token yet, so no ath).
    const exchange = grants('authorization_code')
    expect(exchange).toHaveLength(1)
    expect(decodeJwt(exchange[0]!.dpop!)).toMatchObject({ htm: 'POST', htu: `${servers.op.issuer}/token` })
    expect(decodeJwt(exchange[0]!.dpop!).ath).toBeUndefined()

    const res = await stepUp.fetch(`${servers.api.url}/api/balance?page=2#top`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ sub: 'alice', acr: ACR_1FA })
    expect(hits('/api/balance')).toEqual([[200, 'DPoP', undefined]])

    const [sent] = toApi()
    expect(sent!.authorization).toMatch(/^DPoP [\w-]+\.[\w-]+\.[\w-]+$/)
    const accessToken = sent!.authorization!.slice('DPoP '.length)
    const proof = decodeJwt(sent!.dpop!)
    // htu without query and fragment; ath = base64url(SHA-256(token)).
    expect(proof).toMatchObject({ htm: 'GET', htu: `${servers.api.url}/api/balance` })
    expect(proof.ath).toBe(Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))).toString('base64url'))
    expect(decodeProtectedHeader(sent!.dpop!)).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' })
    const jkt = await thumbprintOf(sent!.dpop!)
    expect(decodeJwt(accessToken).cnf).toEqual({ jkt })
    // The same key signed the code exchange's proof.
    expect(await thumbprintOf(exchange[0]!.dpop!)).toBe(jkt)
    expect(wire.sent.every((s) => !s.authorization?.startsWith('Bearer'))).toBe(true)
  })

  it('sends a fresh proof (new jti) with every request, retries included', async () => {
    const { stepUp, toApi } = setup(servers)
    await stepUp.authorize()
    for (let i = 0; i < 3; i++) expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect((await stepUp.fetch(`${servers.api.url}/api/echo`, { method: 'POST', body: 'x' })).status).toBe(200) // challenged, stepped up, retried
    const proofs = toApi().map((s) => decodeJwt(s.dpop!))
    expect(proofs).toHaveLength(5)
    expect(new Set(proofs.map((p) => p.jti)).size).toBe(5)
    expect(proofs.map((p) => p.htm)).toEqual(['GET', 'GET', 'GET', 'POST', 'POST'])
    // The step-up's new token gets its own ath.
    expect(proofs[3]!.ath).not.toBe(proofs[4]!.ath)
  })

  it('a DPoP-scheme step-up challenge starts one step-up and one retry, like a Bearer one', async () => {
    const { ua, stepUp, toApi } = setup(servers)
    await stepUp.authorize()
    const res = await stepUp.fetch(`${servers.api.url}/api/echo`, { method: 'POST', body: bytes })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ acr: ACR_2FA, bodyBase64: b64(bytes) })
    expect(hits('/api/echo')).toEqual([
      [401, 'DPoP', 'insufficient_user_authentication'],
      [200, 'DPoP', undefined],
    ])
    expect(ua.authorizations).toBe(2)
    expect(ua.flows[1]!.authorizationUrl.searchParams.get('acr_values')).toBe(ACR_2FA)
    // Both tokens are bound to the same key.
    const [first, second] = toApi()
    expect(decodeJwt(first!.authorization!.slice(5)).cnf).toEqual(decodeJwt(second!.authorization!.slice(5)).cnf)
    expect(stepUp.getState()).toMatchObject({ acr: ACR_2FA })
  })

  it('a second DPoP challenge to the retry is loop_detected, as with Bearer', async () => {
    const { ua, stepUp } = setup(servers)
    await stepUp.authorize()
    await expect(stepUp.fetch(`${servers.api.url}/api/always-challenge`)).rejects.toSatisfy((e) => isStepUpError(e, 'loop_detected'))
    expect(ua.authorizations).toBe(2)
  })

  it('OP requiring nonces: exactly one extra token request, then success', async () => {
    servers.op.setRequireDpopNonce(true)
    const { stepUp, grants, toApi } = setup(servers)
    await stepUp.authorize()
    const exchanges = grants('authorization_code')
    expect(exchanges).toHaveLength(2)
    expect(decodeJwt(exchanges[0]!.dpop!).nonce).toBeUndefined()
    expect(decodeJwt(exchanges[1]!.dpop!).nonce).toEqual(expect.any(String))
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    // The OP's nonce never goes to the API.
    expect(hits('/api/balance')).toEqual([[200, 'DPoP', undefined]])
    expect(decodeJwt(toApi()[0]!.dpop!).nonce).toBeUndefined()
  })

  it('API requiring nonces: one extra API call, then 200, the POST body identical on the retry', async () => {
    servers.api.configure({ requireDpopNonce: true })
    const { ua, stepUp, toApi } = setup(servers)
    // Signed in at 2fa, so that /api/echo asks for nothing more than a nonce.
    await stepUp.authorize({ acrValues: [ACR_2FA] })
    const res = await stepUp.fetch(`${servers.api.url}/api/echo`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ bodyBase64: b64(bytes), contentType: 'application/octet-stream' })
    expect(hits('/api/echo')).toEqual([
      [401, 'DPoP', 'use_dpop_nonce'],
      [200, 'DPoP', undefined],
    ])
    const [first, second] = toApi().map((s) => decodeJwt(s.dpop!))
    expect(first!.nonce).toBeUndefined()
    expect(second!.nonce).toEqual(expect.any(String))
    // The nonce is cached for that origin: the next request needs no extra call.
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect(hits('/api/balance')).toEqual([[200, 'DPoP', undefined]])
    expect(ua.authorizations).toBe(1)
  })

  it('the nonce retry is not the step-up retry: nonce, then step-up challenge, then step-up and retry', async () => {
    servers.api.configure({ requireDpopNonce: true })
    const { ua, stepUp } = setup(servers)
    await stepUp.authorize()
    const res = await stepUp.fetch(`${servers.api.url}/api/echo`, { method: 'POST', body: bytes })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ bodyBase64: b64(bytes), acr: ACR_2FA })
    expect(hits('/api/echo')).toEqual([
      [401, 'DPoP', 'use_dpop_nonce'],
      [401, 'DPoP', 'insufficient_user_authentication'],
      [200, 'DPoP', undefined],
    ])
    expect(ua.authorizations).toBe(2)
  })

  it('nonce rotation mid-session costs one retry; a second use_dpop_nonce in a row goes back to the app untouched', async () => {
    servers.api.configure({ requireDpopNonce: true })
    let rotateOnRetry = false
    const { stepUp } = setup(servers, {}, (request, sent) => {
      // The server rotates its nonce again just before the retry arrives (a misbehaving API).
      if (rotateOnRetry && sent.url.origin === servers.api.url && decodeJwt(sent.dpop!).nonce) servers.api.rotateDpopNonce()
    })
    await stepUp.authorize()
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    servers.api.rotateDpopNonce()
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    expect(hits('/api/balance')).toEqual([
      [401, 'DPoP', 'use_dpop_nonce'],
      [200, 'DPoP', undefined],
      [200, 'DPoP', undefined],
      [401, 'DPoP', 'use_dpop_nonce'],
      [200, 'DPoP', undefined],
    ])
    servers.api.resetRequests()
    rotateOnRetry = true
    const refused = await stepUp.fetch(`${servers.api.url}/api/balance`)
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/)
    expect(await refused.json()).toMatchObject({ error: 'use_dpop_nonce' }) // body unread
    expect(hits('/api/balance')).toEqual([
      [401, 'DPoP', 'use_dpop_nonce'],
      [401, 'DPoP', 'use_dpop_nonce'],
    ])
  })

  it('refuses a token response that is not DPoP-bound (a proxy dropped the proof), and holds no token', async () => {
    // The OP binds only when the token request carries a proof; without one it issues Bearer.
    const { stepUp, grants } = setup(servers, {}, (request, sent) => {
      if (sent.grant) {
        request.headers.delete('dpop')
        return request
      }
    })
    const failure = await stepUp.authorize().catch((e: unknown) => e)
    expect(isStepUpError(failure, 'invalid_response')).toBe(true)
    expect((failure as Error).message).toMatch(/token_type "bearer".*enable DPoP/)
    expect(grants('authorization_code')).toHaveLength(1)
    expect(stepUp.getState()).toMatchObject({ authenticated: false, status: 'error' })
    // Nothing is sent with a token.
    expect((await stepUp.fetch(`${servers.api.url}/api/balance`)).status).toBe(401)
    expect(servers.api.requests.at(-1)).toMatchObject({ authorization: false })
  })

  it('logout() forgets the key: the next sign-in binds to a new one', async () => {
    const { stepUp, toApi } = setup(servers)
    await stepUp.authorize()
    await stepUp.fetch(`${servers.api.url}/api/balance`)
    stepUp.logout()
    await stepUp.authorize()
    await stepUp.fetch(`${servers.api.url}/api/balance`)
    const [before, after] = await Promise.all(toApi().map((s) => thumbprintOf(s.dpop!)))
    expect(before).not.toBe(after)
    expect(hits('/api/balance')).toEqual([
      [200, 'DPoP', undefined],
      [200, 'DPoP', undefined],
    ])
  })

  it('unprotected URLs get neither the token nor a proof', async () => {
    const { stepUp, wire } = setup(servers, { protect: [`${servers.api.url}/api/balance`] })
    await stepUp.authorize()
    await stepUp.fetch(`${servers.api.url}/api/public`)
    expect(wire.sent.at(-1)).toMatchObject({ authorization: null, dpop: null })
  })
})

describe('DPoP-bound refresh against the real OP', () => {
  const servers = useRealServers({ op: { accessTokenTtl: 2 } })
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  it('refreshes with a proof of the same key; the new token is bound to it; the refresh token is bound too', async () => {
    servers.op.setRequireDpopNonce(true)
    const ua = createUserAgent()
    const grants: string[] = []
    const proofs: string[] = []
    const refreshTokens: string[] = []
    const client = createStepUp({
      ...clientOf(servers),
      interaction: person(ua),
      dpop: true,
      // Records the grants and proofs, and keeps the refresh tokens the OP issues to try them without the key below.
      fetch: async (input, init) => {
        const request = new Request(input, init)
        if (init?.body instanceof URLSearchParams) grants.push(init.body.get('grant_type')!)
        if (request.headers.has('dpop')) proofs.push(request.headers.get('dpop')!)
        const res = await fetch(request)
        if (init?.body instanceof URLSearchParams && res.ok) {
          const json = (await res.clone().json()) as { refresh_token?: string }
          if (json.refresh_token) refreshTokens.push(json.refresh_token)
        }
        return res
      },
    })
    await client.authorize()
    expect((await client.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    await sleep(3100)
    expect((await client.fetch(`${servers.api.url}/api/balance`)).status).toBe(200)
    // One nonce retry at the code exchange; the refresh reuses the OP's cached nonce.
    expect(grants).toEqual(['authorization_code', 'authorization_code', 'refresh_token'])
    // Two exchanges, the refresh and two API calls: every proof by the one key.
    expect(proofs).toHaveLength(5)
    const keys = await Promise.all(proofs.map((p) => thumbprintOf(p)))
    expect(new Set(keys).size).toBe(1)
    expect(decodeJwt(proofs[3]!)).toMatchObject({ htu: `${servers.op.issuer}/token`, nonce: expect.any(String) })
    expect(servers.api.requests.map((r) => [r.status, r.scheme])).toEqual([
      [200, 'DPoP'],
      [200, 'DPoP'],
    ])
    expect(refreshTokens).toHaveLength(2)
    // The rotated refresh token is bound to the key: without a proof, or with another key, the OP refuses it.
    const issuer = new URL(servers.op.issuer)
    const insecure = { [oauth.allowInsecureRequests]: true } as const
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
    const rpClient: oauth.Client = { client_id: servers.op.clientId }
    const bare = await oauth.refreshTokenGrantRequest(as, rpClient, oauth.None(), refreshTokens[1]!, insecure)
    await expect(oauth.processRefreshTokenResponse(as, rpClient, bare)).rejects.toBeInstanceOf(oauth.ResponseBodyError)
    servers.op.setRequireDpopNonce(false)
    const stranger = oauth.DPoP(rpClient, await oauth.generateKeyPair('ES256'))
    const foreign = await oauth.refreshTokenGrantRequest(as, rpClient, oauth.None(), refreshTokens[1]!, { ...insecure, DPoP: stranger })
    await expect(oauth.processRefreshTokenResponse(as, rpClient, foreign)).rejects.toBeInstanceOf(oauth.ResponseBodyError)
  })
})

describe('the DPoP key', () => {
  it('is an ES256 pair whose private half is not extractable (memory where there is no IndexedDB)', async () => {
    expect((globalThis as { indexedDB?: unknown }).indexedDB).toBeUndefined()
    const dpop = await openDpop('https://op.example spa', hasChallengeError)
    const { privateKey, publicKey } = dpop.keyPair
    expect(privateKey.extractable).toBe(false)
    expect(publicKey.extractable).toBe(true)
    expect(privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' })
    await expect(crypto.subtle.exportKey('jwk', privateKey)).rejects.toThrow()
    await expect(crypto.subtle.exportKey('pkcs8', privateKey)).rejects.toThrow()
    expect(dpop.jkt).toBe(await calculateJwkThumbprint((await crypto.subtle.exportKey('jwk', publicKey)) as JWK))
    // Each client instance has its own memory key.
    expect((await openDpop('https://op.example spa', hasChallengeError)).jkt).not.toBe(dpop.jkt)
  })
})
