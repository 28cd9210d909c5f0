import { http, HttpResponse } from 'msw'
import { SignJWT, generateKeyPair } from 'jose'
import type { Interaction } from '../../src/index.js'

/**
 * A fast, scriptable stand-in for an OP, for unit tests of the SDK's own logic only. The real
 * oidc-provider is exercised in test/integration. The interaction "logs in" instantly with the
 * claims `login(url)` returns; the token endpoint issues an RS256 ID token with them.
 */
export const ISSUER = 'https://op.test'
export const CLIENT_ID = 'spa'
export const REDIRECT_URI = 'https://app.test/callback'
export const API = 'https://api.test'

export interface LoginClaims {
  sub?: string
  acr?: string | undefined
  auth_time?: number | undefined
}

const { privateKey } = await generateKeyPair('RS256')

export function createFakeOp(options: { metadata?: Record<string, unknown> } = {}) {
  let counter = 0
  const codes = new Map<string, { nonce: string; claims: LoginClaims; verifier: string }>()
  /** access token → claims, for the fake API. */
  const accessTokens = new Map<string, LoginClaims>()
  const authorizations: URL[] = []
  const tokenRequests: URLSearchParams[] = []
  let login: (url: URL) => LoginClaims = (url) => ({
    sub: 'alice',
    acr: url.searchParams.get('acr_values')?.split(' ')[0] ?? 'urn:test:1fa',
    auth_time: Math.floor(Date.now() / 1000),
  })
  let callbackOverride: ((url: URL, callback: URL) => URL) | undefined

  const interaction: Interaction = async (url, { signal }) => {
    if (signal.aborted) throw signal.reason
    authorizations.push(url)
    const code = `code-${++counter}`
    codes.set(code, { nonce: url.searchParams.get('nonce')!, claims: login(url), verifier: url.searchParams.get('code_challenge')! })
    const callback = new URL(REDIRECT_URI)
    callback.searchParams.set('code', code)
    callback.searchParams.set('state', url.searchParams.get('state')!)
    callback.searchParams.set('iss', ISSUER)
    return callbackOverride ? callbackOverride(url, callback) : callback
  }

  const handlers = [
    http.get(`${ISSUER}/.well-known/openid-configuration`, () =>
      HttpResponse.json({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/auth`,
        token_endpoint: `${ISSUER}/token`,
        jwks_uri: `${ISSUER}/jwks`,
        response_types_supported: ['code'],
        id_token_signing_alg_values_supported: ['RS256'],
        acr_values_supported: ['urn:test:1fa', 'urn:test:2fa'],
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: true,
        ...options.metadata,
      }),
    ),
    http.post(`${ISSUER}/token`, async ({ request }) => {
      const body = new URLSearchParams(await request.text())
      tokenRequests.push(body)
      const grant = codes.get(body.get('code') ?? '')
      codes.delete(body.get('code') ?? '')
      if (!grant) return HttpResponse.json({ error: 'invalid_grant', error_description: 'unknown code' }, { status: 400 })
      const now = Math.floor(Date.now() / 1000)
      const claims = Object.fromEntries(Object.entries(grant.claims).filter(([, v]) => v !== undefined))
      const idToken = await new SignJWT({ ...claims, nonce: grant.nonce })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(ISSUER)
        .setAudience(CLIENT_ID)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(privateKey)
      const accessToken = `at-${++counter}`
      accessTokens.set(accessToken, grant.claims)
      return HttpResponse.json({ access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken })
    }),
  ]

  return {
    handlers,
    interaction,
    authorizations,
    tokenRequests,
    accessTokens,
    /** What the next logins return. */
    setLogin(fn: (url: URL) => LoginClaims) {
      login = fn
    },
    /** Tamper with the callback URL (state, error, iss). */
    setCallback(fn: ((url: URL, callback: URL) => URL) | undefined) {
      callbackOverride = fn
    },
    /** The claims behind an `Authorization` header value. */
    claimsOf(authorization: string | null): LoginClaims | undefined {
      return authorization ? accessTokens.get(authorization.replace(/^Bearer /, '')) : undefined
    },
  }
}

export type FakeOp = ReturnType<typeof createFakeOp>

/** The RFC 9470 challenge header. */
export function challengeHeader(acrValues: string, maxAge?: number): string {
  return `Bearer error="insufficient_user_authentication", error_description="step up", acr_values="${acrValues}"${maxAge === undefined ? '' : `, max_age=${maxAge}`}`
}
