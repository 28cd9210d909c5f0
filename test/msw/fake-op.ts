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
  /** access token → expiry (epoch ms). */
  const expiries = new Map<string, number>()
  /** refresh token → the login it came from; deleted on use (rotation). */
  const refreshTokens = new Map<string, LoginClaims>()
  const authorizations: URL[] = []
  const tokenRequests: URLSearchParams[] = []
  /** Off by default: only the refresh tests turn it on (setTokens). */
  let tokenOptions: TokenOptions = {}
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
      if (body.get('grant_type') === 'refresh_token') {
        const token = body.get('refresh_token') ?? ''
        const login = refreshTokens.get(token)
        refreshTokens.delete(token)
        if (tokenOptions.refreshError) return HttpResponse.json({ error: tokenOptions.refreshError }, { status: tokenOptions.refreshError === 'server_error' ? 500 : 400 })
        if (!login) return HttpResponse.json({ error: 'invalid_grant', error_description: 'spent, expired or revoked' }, { status: 400 })
        const claims = tokenOptions.refreshClaims?.(login) ?? login
        return issue(login, tokenOptions.refreshIdToken === false ? undefined : claims)
      }
      const grant = codes.get(body.get('code') ?? '')
      codes.delete(body.get('code') ?? '')
      if (!grant) return HttpResponse.json({ error: 'invalid_grant', error_description: 'unknown code' }, { status: 400 })
      return issue(grant.claims, grant.claims, grant.nonce)
    }),
  ]

  /** A token response for `login`; the ID token says `idClaims` (none when undefined). */
  async function issue(login: LoginClaims, idClaims: LoginClaims | undefined, nonce?: string) {
    const now = Math.floor(Date.now() / 1000)
    const expiresIn = tokenOptions.expiresIn ?? 300
    const accessToken = `at-${++counter}`
    accessTokens.set(accessToken, login)
    expiries.set(accessToken, Date.now() + expiresIn * 1000)
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn }
    if (idClaims) {
      const claims = Object.fromEntries(Object.entries(idClaims).filter(([, v]) => v !== undefined))
      body['id_token'] = await new SignJWT({ ...claims, ...(nonce ? { nonce } : {}) })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(ISSUER)
        .setAudience(CLIENT_ID)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(privateKey)
    }
    if (tokenOptions.refreshTokens) {
      const refreshToken = `rt-${++counter}`
      refreshTokens.set(refreshToken, login)
      body['refresh_token'] = refreshToken
    }
    return HttpResponse.json(body)
  }

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
    /** Token lifetimes and refresh behaviour for the next token responses. */
    setTokens(options: TokenOptions) {
      tokenOptions = options
    },
    /** Refresh token grants received so far. */
    get refreshRequests() {
      return tokenRequests.filter((body) => body.get('grant_type') === 'refresh_token')
    },
    /** Revoke every refresh token issued so far (a later refresh gets invalid_grant). */
    revokeRefreshTokens() {
      refreshTokens.clear()
    },
    /** Whether an `Authorization` header carries a token this OP issued that has expired. */
    isExpired(authorization: string | null): boolean {
      const expiry = authorization ? expiries.get(authorization.replace(/^Bearer /, '')) : undefined
      return expiry !== undefined && expiry <= Date.now()
    },
    /** Tamper with the callback URL (state, error, iss). */
    setCallback(fn: ((url: URL, callback: URL) => URL) | undefined) {
      callbackOverride = fn
    },
    /** The claims behind an `Authorization` header value. */
    claimsOf(authorization: string | null): LoginClaims | undefined {
      // An expired token is no token (the fake API then answers invalid_token).
      if (!authorization || this.isExpired(authorization)) return undefined
      return accessTokens.get(authorization.replace(/^Bearer /, ''))
    },
  }
}

export type FakeOp = ReturnType<typeof createFakeOp>

/** What the fake token endpoint issues (every field optional; the defaults are the old behaviour). */
export interface TokenOptions {
  /** `expires_in` of access tokens. @default 300 */
  expiresIn?: number
  /** Issue a rotating refresh token with every token response. @default false */
  refreshTokens?: boolean
  /** `false`: refresh responses carry no ID token. @default true */
  refreshIdToken?: boolean
  /** The claims of the ID token a refresh returns, from the login's (e.g. another sub or auth_time). */
  refreshClaims?: (login: LoginClaims) => LoginClaims
  /** The refresh grant fails with this OAuth error (`server_error` as a 500). */
  refreshError?: string
}

/** The RFC 9470 challenge header. */
export function challengeHeader(acrValues: string, maxAge?: number): string {
  return `Bearer error="insufficient_user_authentication", error_description="step up", acr_values="${acrValues}"${maxAge === undefined ? '' : `, max_age=${maxAge}`}`
}
