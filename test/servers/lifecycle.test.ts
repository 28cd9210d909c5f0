// @vitest-environment node
//
// The servers' side of the token lifecycle, without the SDK: rotating refresh tokens that keep
// the assurance of their login, and DPoP-bound tokens (RFC 9449) verified for real by the API.
import { createHash, randomUUID } from 'node:crypto'
import { SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startApi, type RunningApi } from '../../servers/api.js'
import { ACR_2FA, startOp, type RunningOp } from '../../servers/op.js'
import { createUserAgent } from './login.js'
import { connect, insecure, type RelyingParty } from './oauth-client.js'

let op: RunningOp
let api: RunningApi
let rp: RelyingParty

beforeAll(async () => {
  op = await startOp()
  api = await startApi({ issuer: op.issuer, audience: op.resource })
  rp = await connect(op)
})
afterAll(async () => {
  await Promise.all([op?.close(), api?.close()])
})
afterEach(() => {
  op.resetKnobs()
  api.configure({ requireDpopNonce: false })
})

describe('refresh tokens', () => {
  it('come with every code exchange, rotate, and keep the acr, amr and auth_time of their login', async () => {
    const first = await rp.login(createUserAgent(), { acrValues: ACR_2FA }, { otp: true })
    expect(first.tokens.refresh_token).toEqual(expect.any(String))
    const original = decodeJwt(first.accessToken)

    await new Promise((resolve) => setTimeout(resolve, 1100)) // a later iat, so the new token differs
    const refreshed = await oauth.processRefreshTokenResponse(rp.as, rp.client, await oauth.refreshTokenGrantRequest(rp.as, rp.client, oauth.None(), first.tokens.refresh_token!, insecure))
    expect(refreshed.refresh_token).toEqual(expect.any(String))
    expect(refreshed.refresh_token).not.toBe(first.tokens.refresh_token)
    const renewed = decodeJwt(refreshed.access_token)
    expect(renewed.iat).toBeGreaterThan(original.iat!)
    expect([renewed.acr, renewed.amr, renewed.auth_time]).toEqual([original.acr, original.amr, original.auth_time])
    expect(oauth.getValidatedIdTokenClaims(refreshed)).toMatchObject({ acr: ACR_2FA, auth_time: original.auth_time })
    expect((await fetch(`${api.url}/api/transfer`, { method: 'POST', headers: { authorization: `Bearer ${refreshed.access_token}` } })).status).toBe(200)

    // The used refresh token is spent.
    const again = await oauth.refreshTokenGrantRequest(rp.as, rp.client, oauth.None(), first.tokens.refresh_token!, insecure)
    await expect(oauth.processRefreshTokenResponse(rp.as, rp.client, again)).rejects.toMatchObject({ error: 'invalid_grant' })
  })

  it('are not issued when the OP is started with refreshTokens: false', async () => {
    const plainOp = await startOp({ refreshTokens: false })
    try {
      const plain = await (await connect(plainOp)).login(createUserAgent())
      expect(plain.tokens.refresh_token).toBeUndefined()
    } finally {
      await plainOp.close()
    }
  })
})

describe('DPoP', () => {
  let keys: CryptoKeyPair
  let dpopToken: string
  let jkt: string

  /** A proof for `method url` with `token`; `overrides` change claims or sign with other keys. */
  async function proof(method: string, url: string, token: string, overrides: { claims?: Record<string, unknown>; keys?: CryptoKeyPair } = {}): Promise<string> {
    const signer = overrides.keys ?? keys
    return new SignJWT({ htm: method, htu: url, jti: randomUUID(), ath: createHash('sha256').update(token).digest('base64url'), ...overrides.claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(signer.publicKey) })
      .setIssuedAt(typeof overrides.claims?.iat === 'number' ? overrides.claims.iat : undefined)
      .sign(signer.privateKey)
  }

  const call = (path: string, headers: Record<string, string>, method = 'GET') => fetch(`${api.url}${path}`, { method, headers })

  beforeAll(async () => {
    keys = await generateKeyPair('ES256', { extractable: true })
    jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey))
    const ua = createUserAgent()
    dpopToken = (await rp.login(ua, { acrValues: ACR_2FA }, { otp: true }, oauth.DPoP(rp.client, keys))).accessToken
  })

  it('a token requested with a proof is bound to its key, and the API accepts it with a fresh proof', async () => {
    expect(decodeJwt(dpopToken).cnf).toEqual({ jkt })
    const url = `${api.url}/api/transfer`
    const ok = await call('/api/transfer', { authorization: `DPoP ${dpopToken}`, dpop: await proof('POST', url, dpopToken) }, 'POST')
    expect(ok.status).toBe(200)
    expect(api.requests.at(-1)).toMatchObject({ scheme: 'DPoP', status: 200, acr: ACR_2FA })
  })

  it('refuses the bound token as Bearer, without a proof, with a replayed proof, another method, URL, token or key', async () => {
    const url = `${api.url}/api/balance`
    const reused = await proof('GET', url, dpopToken)
    const attempts: Array<[string, Record<string, string>]> = [
      ['as Bearer', { authorization: `Bearer ${dpopToken}` }],
      ['no proof', { authorization: `DPoP ${dpopToken}` }],
      ['another method', { authorization: `DPoP ${dpopToken}`, dpop: await proof('POST', url, dpopToken) }],
      ['another URL', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', `${api.url}/api/transfer`, dpopToken) }],
      ['another token', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', url, 'another-token') }],
      ['another key', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', url, dpopToken, { keys: await generateKeyPair('ES256', { extractable: true }) }) }],
      ['an old proof', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', url, dpopToken, { claims: { iat: Math.floor(Date.now() / 1000) - 3600 } }) }],
    ]
    expect((await call('/api/balance', { authorization: `DPoP ${dpopToken}`, dpop: reused })).status).toBe(200)
    attempts.push(['a replayed proof', { authorization: `DPoP ${dpopToken}`, dpop: reused }])
    for (const [what, headers] of attempts) {
      const res = await call('/api/balance', headers)
      expect.soft(res.status, what).toBe(401)
      expect.soft(res.headers.get('www-authenticate'), what).toMatch(/^DPoP error="(invalid_token|invalid_dpop_proof)"/)
    }
  })

  it('a DPoP request that lacks assurance gets the RFC 9470 challenge in the DPoP scheme', async () => {
    const first = await rp.login(createUserAgent(), {}, {}, oauth.DPoP(rp.client, keys))
    const url = `${api.url}/api/transfer`
    const res = await call('/api/transfer', { authorization: `DPoP ${first.accessToken}`, dpop: await proof('POST', url, first.accessToken) }, 'POST')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(
      `DPoP error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="${ACR_2FA}", max_age=300, algs="ES256 ES384 EdDSA Ed25519 RS256 PS256"`,
    )
  })

  it('with nonces required, the API answers use_dpop_nonce with a DPoP-Nonce, and a proof carrying it passes', async () => {
    api.configure({ requireDpopNonce: true })
    const url = `${api.url}/api/balance`
    const first = await call('/api/balance', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', url, dpopToken) })
    expect(first.status).toBe(401)
    expect(first.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/)
    const nonce = first.headers.get('dpop-nonce')
    expect(nonce).toMatch(/^[\w-]{16,}$/)
    const second = await call('/api/balance', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', url, dpopToken, { claims: { nonce } }) })
    expect(second.status).toBe(200)
    api.rotateDpopNonce()
    expect((await call('/api/balance', { authorization: `DPoP ${dpopToken}`, dpop: await proof('GET', url, dpopToken, { claims: { nonce } }) })).status).toBe(401)
  })

  it('with nonces required at the OP, the token request answers use_dpop_nonce once, then the same exchange with the nonce works', async () => {
    op.setRequireDpopNonce(true)
    const handle = oauth.DPoP(rp.client, keys)
    const ua = createUserAgent()
    const { callback, state, nonce, codeVerifier } = await rp.authorize(ua)
    const params = oauth.validateAuthResponse(rp.as, rp.client, callback, state)
    const exchange = () => oauth.authorizationCodeGrantRequest(rp.as, rp.client, oauth.None(), params, op.redirectUri, codeVerifier, { ...insecure, DPoP: handle })
    const error = await oauth.processAuthorizationCodeResponse(rp.as, rp.client, await exchange(), { expectedNonce: nonce }).catch((e: unknown) => e)
    expect(oauth.isDPoPNonceError(error)).toBe(true)
    const tokens = await oauth.processAuthorizationCodeResponse(rp.as, rp.client, await exchange(), { expectedNonce: nonce })
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt })
  })
})
