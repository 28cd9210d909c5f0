// The refresh token grant (docs/decisions/0003-token-lifecycle.md), loaded with import() on the
// first refresh: a page whose tokens never need one never downloads it.
import type { DpopClient } from '../dpop/dpop.js'
import type { Metadata, OAuthClient, TokenResult } from '../flows/oauth.js'
import type { TokenRecord, TokenSet } from './tokens.js'

/**
 * What a refresh needs from its client (create-step-up.ts). A tuple, not an object: the first
 * load then carries no property names for it (see docs/decisions/0007-first-load.md).
 */
export type RefreshHost = [
  discover: () => Promise<Metadata>,
  client: OAuthClient,
  grant: (as: Metadata, client: OAuthClient, params: Record<string, string>, options: { headers?: Record<string, string> | undefined }) => Promise<TokenResult>,
  withTokens: (base: TokenRecord, result: TokenResult) => TokenRecord,
  /** The DPoP handle, when DPoP is on. */
  dpop: (() => Promise<DpopClient>) | undefined,
  tokens: TokenSet,
  /** Bumped by logout(): the answer to a refresh that started before it is stored nowhere. */
  epoch: () => number,
  drop: (dead: (token: TokenRecord) => boolean) => void,
  /** `next` has taken the refreshed token's place in `tokens`: store it, tell the other tabs. */
  renewed: (next: TokenRecord) => void,
  /** The client's single-flight refreshes, by token: a failure that may pass is forgotten there. */
  refreshes: WeakMap<TokenRecord, unknown>,
]

/**
 * Spend `token`'s refresh token. Resolves with its successor, in its place, or undefined: the OP
 * refused it for good or answered for another subject (the token is dropped), a logout or a user
 * switch came first, or a failure that may pass (the next request tries again). `started` is the
 * client's epoch when the refresh was asked for.
 */
export async function renew(token: TokenRecord, started: number, host: RefreshHost): Promise<TokenRecord | undefined> {
  const [discover, client, grant, withTokens, dpop, tokens, epoch, drop, renewed, refreshes] = host
  try {
    const as = await discover()
    const run = (extra: { headers?: Record<string, string> } = {}): Promise<TokenResult> =>
      grant(as, client, { grant_type: 'refresh_token', refresh_token: token.refreshToken! }, extra)
    // A DPoP-bound refresh token is spent with a proof of the same key (RFC 9449 §5).
    const result = await (dpop ? (await dpop()).grant(as.token_endpoint, run) : run())
    // OIDC Core §12.2: same subject. The assurance is the original authentication's: a
    // refresh never raises it, whatever a new ID token says about acr or auth_time.
    if (result.claims && result.claims['sub'] !== token.sub) {
      drop((t) => t === token)
      return undefined
    }
    // Rotation: the new refresh token replaces the spent one.
    const next = withTokens(token, result)
    // In the old record's place (the baseline stays the baseline); when it is gone (logout,
    // a user switch) the answer belongs to nobody.
    const index = tokens.tokens.indexOf(token)
    if (epoch() !== started || index < 0) return undefined
    tokens.tokens[index] = next
    renewed(next)
    return next
  } catch (error) {
    // The OP refused this refresh for good (RFC 6749 §5.2: invalid_grant, a spent, expired or
    // revoked token; or the request or client is wrong): that token is gone. Anything else may
    // pass and the next request tries again: network, 5xx, a rate limit (429 too_many_requests),
    // temporarily_unavailable, a DPoP proof the OP did not like (a rotated nonce, clock skew).
    // (Only a StepUpError from the token endpoint carries opError; this chunk imports nothing of
    // the first load's, so it reads the field without the class.)
    if (/^(invalid_(grant|request|client|scope)|unauthorized_client|unsupported_grant_type)$/.test(String((error as { opError?: unknown } | null)?.opError))) drop((t) => t === token)
    else refreshes.delete(token)
    return undefined
  }
}
