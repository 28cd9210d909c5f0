import type { Requirement } from '../core/requirement.js'
import { pkceChallenge, randomToken, type Metadata } from './oauth.js'

/** How the acr requirement is put into the authorization request. */
export type RequestAcrWith = 'acr_values' | 'claims' | 'both'

/** What a pending flow must remember to redeem its callback. Serialisable (redirect hand-off). */
export interface PendingFlow {
  state: string
  nonce: string
  codeVerifier: string
  /** Absent for the plain login. */
  requirement?: Requirement
}

export interface AuthorizationRequestConfig {
  clientId: string
  redirectUri: string
  scope: string
  requestAcrWith: RequestAcrWith
}

/**
 * Build an authorization-code + PKCE (S256) request with state and nonce, asking for the
 * requirement through `acr_values`, an essential `acr` in `claims`, or both, plus `max_age`.
 *
 * @see [RFC 9470 §4](https://www.rfc-editor.org/rfc/rfc9470.html#section-4)
 * @see [OpenID Connect Core §5.5.1.1](https://openid.net/specs/openid-connect-core-1_0.html#acrSemantics)
 */
export async function createAuthorizationRequest(
  as: Metadata,
  config: AuthorizationRequestConfig,
  requirement: Requirement | undefined,
): Promise<{ url: URL; flow: PendingFlow }> {
  const flow: PendingFlow = {
    state: randomToken(),
    nonce: randomToken(),
    codeVerifier: randomToken(),
  }
  if (requirement) flow.requirement = requirement
  const url = new URL(as.authorization_endpoint)
  const params = url.searchParams
  params.set('client_id', config.clientId)
  params.set('redirect_uri', config.redirectUri)
  params.set('response_type', 'code')
  params.set('scope', config.scope)
  params.set('state', flow.state)
  params.set('nonce', flow.nonce)
  params.set('code_challenge', await pkceChallenge(flow.codeVerifier))
  params.set('code_challenge_method', 'S256')
  const acrValues = requirement?.acrValues ?? []
  if (acrValues.length) {
    if (config.requestAcrWith !== 'claims') params.set('acr_values', acrValues.join(' '))
    if (config.requestAcrWith !== 'acr_values') {
      params.set('claims', JSON.stringify({ id_token: { acr: { essential: true, values: acrValues } } }))
    }
  }
  if (requirement?.maxAge !== undefined) params.set('max_age', String(requirement.maxAge))
  return { url, flow }
}
