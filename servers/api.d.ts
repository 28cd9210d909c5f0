// Types for servers/api.js (hand-written; keep in sync).
import type { IncomingHttpHeaders } from 'node:http'
import type { JWTPayload } from 'jose'

export declare const ACR_1FA: 'urn:demo:loa:1fa'
export declare const ACR_2FA: 'urn:demo:loa:2fa'
/** Assurance order: a later entry satisfies an earlier one (2fa satisfies 1fa). */
export declare const ACR_ORDER: readonly string[]

/** What a route's `respond` sees. */
export interface ApiRequest {
  method: string
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  /** Raw request body. */
  body: Buffer
  /** Verified access token claims (undefined on public routes). */
  token: JWTPayload | undefined
}

export interface RouteRule {
  /** e.g. "GET" */
  method: string
  /** Exact path, e.g. "/api/balance". */
  path: string
  /** Minimum acr (in ACR_ORDER); omitted: any valid token. */
  acr?: string
  /** RFC 9470 max_age: seconds since auth_time. */
  maxAge?: number
  /** No token needed. */
  public?: boolean
  /** Answer the step-up challenge whatever the token. */
  alwaysChallenge?: boolean
  /** JSON body of the 200 answer (default { ok: true }); a throw gives 400. */
  respond?: (request: ApiRequest) => unknown
}

export interface RequestRecord {
  method: string
  path: string
  /** Whether an Authorization header was sent. */
  authorization: boolean
  /** The verified token's acr. */
  acr: string | undefined
  /** The verified token's auth_time. */
  authTime: number | undefined
  sub: string | undefined
  /** Status of the answer. */
  status: number
  /** "invalid_token", "insufficient_user_authentication", "invalid_dpop_proof" or "use_dpop_nonce" when the answer was a challenge. */
  error: string | undefined
  /** The Authorization scheme sent. */
  scheme: 'Bearer' | 'DPoP' | undefined
}

export interface ApiOptions {
  /** The OP issuer; jwks_uri comes from its discovery document. */
  issuer: string
  /** Expected `aud` of access tokens (the OP's resource). */
  audience: string
  /** Skip discovery and use this JWKS URI. */
  jwksUri?: string
  /** Default 0: a free port. */
  port?: number
  /** CORS origins allowed; default: echo any Origin. */
  allowOrigin?: string | string[]
  /** Send Access-Control-Expose-Headers: WWW-Authenticate (default true). */
  exposeWwwAuthenticate?: boolean
  /** Repeat the step-up challenge as a JSON body (default true). */
  jsonBodyChallenge?: boolean
  /** Seconds of slack on max_age checks (default 5). */
  maxAgeLeeway?: number
  /** Extra routes, or overrides of built-in ones. */
  routes?: RouteRule[]
  /** DPoP proofs must carry a nonce this server issued (use_dpop_nonce + DPoP-Nonce; default false). */
  requireDpopNonce?: boolean
}

export interface RunningApi {
  /** e.g. "http://127.0.0.1:41235" (no trailing slash). */
  url: string
  port: number
  /** Every request except CORS preflights, oldest first. */
  requests: RequestRecord[]
  resetRequests(): void
  /** Change how challenges are sent from now on (omitted fields keep their value); returns the settings in effect. */
  configure(changes: { exposeWwwAuthenticate?: boolean; jsonBodyChallenge?: boolean; requireDpopNonce?: boolean }): { exposeWwwAuthenticate: boolean; jsonBodyChallenge: boolean; requireDpopNonce: boolean }
  /** Issue a new DPoP nonce; proofs with the old one get use_dpop_nonce (when nonces are required). */
  rotateDpopNonce(): string
  /** Add or replace a route. */
  addRoute(route: RouteRule): void
  close(): Promise<void>
}

export declare const DEFAULT_ROUTES: RouteRule[]
/** Signature algorithms accepted in DPoP proofs. */
export declare const DPOP_ALGS: string[]
export declare function acrSatisfies(required: string | undefined, acr: unknown): boolean
export declare function startApi(options: ApiOptions): Promise<RunningApi>
