// Types for servers/op.js (hand-written; keep in sync).
import type { EventEmitter } from 'node:events'

/** The oidc-provider instance (the package ships no types). */
export type Provider = EventEmitter & { readonly issuer: string; [key: string]: any }

export declare const ACR_1FA: 'urn:demo:loa:1fa'
export declare const ACR_2FA: 'urn:demo:loa:2fa'
/** The demo OP accepts any username with this password. */
export declare const DEMO_PASSWORD: 'password'
export declare const DEFAULT_CLIENT_ID: 'spa'
export declare const DEFAULT_REDIRECT_URIS: string[]
export declare const DEFAULT_RESOURCE: string

export interface OpOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number
  /** client_id of the built-in public SPA client (default "spa"). */
  clientId?: string
  /** redirect_uris of the built-in SPA client (default ["http://127.0.0.1:5173/callback"]). */
  redirectUris?: string[]
  /** Extra client metadata; one with the built-in client's client_id replaces it. */
  clients?: Record<string, unknown>[]
  /** Origins allowed to call the token endpoint with CORS, besides the origins of each
   *  public client's redirect_uris. */
  corsOrigins?: string[]
  /** The API's resource indicator = the access token audience (default "http://127.0.0.1/api"). */
  resource?: string
  /** Space-separated scopes of the API (default "api"). */
  resourceScope?: string
  /** Access token lifetime in seconds (default 300). */
  accessTokenTtl?: number
  /** ID token lifetime in seconds (default 600). */
  idTokenTtl?: number
  /** Key of the per-interaction one-time codes (default random). */
  otpSecret?: string
  /** Issue a rotating refresh token with every code exchange (default true). */
  refreshTokens?: boolean
  /** Refresh token lifetime in seconds (default 86400). */
  refreshTokenTtl?: number
}

export interface LoginRecord {
  uid: string
  accountId: string
  acr: string
  amr: string[]
  authTime: number
}

export interface NextLoginInfo {
  uid: string
  /** What the login form said. */
  username: string
  /** Whether the correct one-time code was given. */
  twoFactor: boolean
  /** The acr values the request asked for (acr_values or the claims parameter). */
  requested: string[]
}

export interface LoginOverride {
  accountId?: string
  acr?: string
  amr?: string[]
  /** Record auth_time this many seconds in the past. */
  authTimeAgo?: number
  /** Finish the interaction with this OAuth error instead of a login. */
  error?: string
  errorDescription?: string
}

export type NextLogin = (info: NextLoginInfo) => LoginOverride | undefined | void

export interface RunningOp {
  /** The issuer identifier, e.g. "http://127.0.0.1:41234" (no trailing slash). */
  issuer: string
  /** Same as issuer. */
  url: string
  port: number
  /** client_id of the built-in SPA client. */
  clientId: string
  /** Its first redirect_uri. */
  redirectUri: string
  /** The API's resource indicator (access token audience). */
  resource: string
  /** The oidc-provider instance. */
  provider: Provider
  /** Every accepted login form submission, oldest first. */
  logins: LoginRecord[]
  /** The one-time code that the login page of interaction `uid` shows. */
  otpFor(uid: string): string
  /** Logins finish with this acr whatever the user entered; also lets a lower acr
   *  through the OP's acr checks. null: off. */
  setLoginAcr(acr: string | null): void
  /** Interactions finish with this OAuth error (an interaction is forced even when the
   *  SSO session would do). null: off. */
  setInteractionError(error: string | null, description?: string): void
  /** Logins use this accountId (sub) whatever the username. null: off. */
  setAccountId(id: string | null): void
  /** Logins record auth_time this many seconds in the past. null: off. */
  setAuthTimeAgo(seconds: number | null): void
  /** Decide the outcome of logins in code (takes precedence over the other knobs). null: off. */
  setNextLogin(fn: NextLogin | null): void
  /** Require a server-provided nonce in DPoP proofs at the token endpoint (use_dpop_nonce). */
  setRequireDpopNonce(on: boolean): void
  /** Turn every knob off and forget recorded logins. */
  resetKnobs(): void
  /** Stop listening and drop open connections. */
  close(): Promise<void>
}

export declare function startOp(options?: OpOptions): Promise<RunningOp>

/** What an authorization request asks for (acr_values, else the claims parameter's id_token acr). */
export declare function requestedAcr(params: Record<string, unknown>): {
  values: string[]
  essential: boolean
  needsOtp: boolean
}
