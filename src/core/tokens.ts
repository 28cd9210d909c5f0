import { requirementKey, type AcceptAcr, type Requirement } from './requirement.js'

/** One access token with the authentication it came from. Serialisable (storage: 'session'). */
export interface TokenRecord {
  accessToken: string
  /** `'Bearer'`, or `'DPoP'` for a token bound to the client's DPoP key. */
  tokenType: string
  /** For a DPoP-bound token: the JWK thumbprint of its key (`cnf.jkt`). */
  jkt?: string
  /** Epoch milliseconds; absent when the OP sent no `expires_in`. */
  expiresAt?: number
  idToken: string
  sub: string
  acr?: string
  amr?: string[]
  /** Epoch seconds of the authentication (`auth_time`). */
  authTime?: number
  /** The requirement it was obtained for; absent for the baseline login token. */
  requirement?: Requirement
  /** Epoch milliseconds of the code exchange or of the last refresh. */
  obtainedAt: number
  /** The OP's refresh token for this authentication (rotated on every use); absent when none was issued. */
  refreshToken?: string
}

/**
 * Whether a token can still be used: unexpired, or renewable with its refresh token (a refresh
 * keeps the authentication, so an expired access token with a refresh token is still "held").
 */
export const alive = (t: TokenRecord, nowMs: number): boolean => t.refreshToken !== undefined || t.expiresAt === undefined || t.expiresAt > nowMs

/** At most this many tokens are held. */
const MAX_TOKENS = 8

/**
 * The tokens held for one client: the baseline login token and elevated ones, newest last.
 * An elevated token never silently replaces the baseline (DESIGN.md).
 */
export class TokenSet {
  /** Oldest first. Set by the constructor (`declare`: no separate field initialiser). */
  declare tokens: TokenRecord[]

  constructor(tokens: TokenRecord[] = []) {
    this.tokens = tokens
  }

  /** The token for requests with no known requirement: the baseline, else the newest valid one. */
  baseline(nowMs: number): TokenRecord | undefined {
    const live = this.tokens.filter((t) => alive(t, nowMs))
    return live.find((t) => !t.requirement) ?? live.at(-1)
  }

  /**
   * The newest token that `allowed` lets through and that can be offered to an endpoint with
   * `requirement`: acr acceptable, not expired (or renewable), and authenticated within
   * `maxAge` (a refresh never renews that). No clock-skew allowance here: a token that is only
   * "probably" fresh enough costs a challenge; the one after a flow gets the allowance.
   */
  find(requirement: Requirement, acceptAcr: AcceptAcr, nowMs: number, allowed: (token: TokenRecord) => boolean = () => true): TokenRecord | undefined {
    return this.tokens.findLast(
      (t) =>
        allowed(t) &&
        alive(t, nowMs) &&
        acceptAcr(requirement.acrValues, t.acr) &&
        (requirement.maxAge === undefined || !(t.authTime === undefined || t.authTime + requirement.maxAge < Math.floor(nowMs / 1000))),
    )
  }

  /** The newest unexpired token obtained for exactly this requirement (or the login, for none). */
  obtainedFor(requirement: Requirement | undefined, nowMs: number): TokenRecord | undefined {
    const key = requirementKey(requirement)
    return this.tokens.findLast((t) => requirementKey(t.requirement) === key && alive(t, nowMs))
  }

  /** Any held subject: a step-up must come back with this one. */
  subject(): string | undefined {
    return this.tokens.at(-1)?.sub
  }

  /** Add a token, replacing the one obtained for the same requirement (or the baseline). */
  add(token: TokenRecord, sameKey: (a: TokenRecord, b: TokenRecord) => boolean): void {
    const tokens = (this.tokens = this.tokens.filter((t) => !sameKey(t, token)))
    tokens.push(token)
    if (tokens.length > MAX_TOKENS) {
      // Evict the oldest elevated token; the baseline is what every other request relies on.
      const oldest = tokens.findIndex((t) => t.requirement)
      tokens.splice(oldest === -1 ? 0 : oldest, 1)
    }
  }

  clear(): void {
    this.tokens = []
  }
}
