// A minimal relying party for the server tests: oauth4webapi against the real OP, logging in
// through the headless user agent of ./login.ts. No SDK involved.
import * as oauth from 'oauth4webapi'
import type { RunningOp } from '../../servers/op.js'
import type { InteractionOptions, UserAgent } from './login.js'

export const insecure = { [oauth.allowInsecureRequests]: true } as const

export interface FlowParams {
  acrValues?: string
  claims?: unknown
  maxAge?: number
  scope?: string
}

export interface RelyingParty {
  as: oauth.AuthorizationServer
  client: oauth.Client
  /** One authorization-code + PKCE flow through the user agent; returns the raw callback. */
  authorize(ua: UserAgent, params?: FlowParams, options?: InteractionOptions): Promise<{ callback: URL; state: string; nonce: string; codeVerifier: string }>
  /** authorize() + code exchange (DPoP-bound with `dpop`); the tokens and the validated ID token claims. */
  login(
    ua: UserAgent,
    params?: FlowParams,
    options?: InteractionOptions,
    dpop?: oauth.DPoPHandle,
  ): Promise<{ callback: URL; tokens: oauth.TokenEndpointResponse; idToken: oauth.IDToken; accessToken: string }>
}

export async function connect(op: RunningOp): Promise<RelyingParty> {
  const issuer = new URL(op.issuer)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
  const client: oauth.Client = { client_id: op.clientId }

  const authorize: RelyingParty['authorize'] = async (ua, params = {}, options = {}) => {
    const codeVerifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const nonce = oauth.generateRandomNonce()
    const url = new URL(as.authorization_endpoint!)
    url.searchParams.set('client_id', client.client_id)
    url.searchParams.set('redirect_uri', op.redirectUri)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('scope', params.scope ?? 'openid')
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
    url.searchParams.set('code_challenge_method', 'S256')
    url.searchParams.set('state', state)
    url.searchParams.set('nonce', nonce)
    if (params.acrValues) url.searchParams.set('acr_values', params.acrValues)
    if (params.claims) url.searchParams.set('claims', JSON.stringify(params.claims))
    if (params.maxAge !== undefined) url.searchParams.set('max_age', String(params.maxAge))
    const callback = await ua.interaction(options)(url, { signal: AbortSignal.timeout(5_000) })
    return { callback, state, nonce, codeVerifier }
  }

  const login: RelyingParty['login'] = async (ua, params = {}, options = {}, dpop) => {
    const { callback, state, nonce, codeVerifier } = await authorize(ua, params, options)
    const callbackParams = oauth.validateAuthResponse(as, client, callback, state)
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callbackParams, op.redirectUri, codeVerifier, {
      ...insecure,
      ...(dpop ? { DPoP: dpop } : {}),
    })
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: nonce,
      requireIdToken: true,
      ...(params.maxAge !== undefined ? { maxAge: params.maxAge } : {}),
    })
    const idToken = oauth.getValidatedIdTokenClaims(tokens)!
    return { callback, tokens, idToken, accessToken: tokens.access_token }
  }

  return { as, client, authorize, login }
}
