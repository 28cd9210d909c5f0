import { messageOf, stateMismatch, StepUpError } from '../errors/step-up-error.js'
import type { StepUpChallenge } from '../challenge/types.js'
import type { TokenRecord } from '../core/tokens.js'
import type { DpopClient } from '../dpop/dpop.js'
import type { PendingFlow } from './authorization-request.js'
import { verifyClaims, type VerifyOptions } from './id-token.js'
import { codeFrom, grant, type Metadata, type OAuthClient, type TokenResult } from './oauth.js'

export interface RedeemConfig extends VerifyOptions {
  as: Metadata
  client: OAuthClient
  redirectUri: string
  signal?: AbortSignal | undefined
  /** With `dpop: true`: binds the tokens to the client's key (RFC 9449). */
  dpop?: DpopClient | undefined
}

/**
 * Validate the callback URL for `flow`, redeem its code and verify the ID token.
 *
 * @returns The new token record, verified.
 * @throws {StepUpError} `state_mismatch`, `unmet_authentication_requirements`,
 *   `authorization_error`, `invalid_response`, `token_error`, `acr_not_satisfied`,
 *   `max_age_exceeded`, `subject_mismatch`.
 */
export async function redeemCallback(callback: URL, flow: PendingFlow, config: RedeemConfig): Promise<TokenRecord> {
  const { as, client, challenge } = config
  const params = callback.searchParams
  // Check state before anything else: an error callback with a foreign state is not ours to report.
  if (params.get('state') !== flow.state) {
    throw stateMismatch(challenge)
  }
  // RFC 9207 first, error callbacks included: an "iss" that is not our OP (a mix-up attack)
  // must not get its error_description shown as ours.
  const code = codeFrom(params, as, (error, description) => callbackError(error, description, challenge))
  let result: TokenResult
  const run = (extra?: { headers: Record<string, string> }): Promise<TokenResult> =>
    grant(as, client, { grant_type: 'authorization_code', code, redirect_uri: config.redirectUri, code_verifier: flow.codeVerifier }, {
      headers: extra?.headers, signal: config.signal, nonce: flow.nonce,
    })
  try {
    result = await (config.dpop ? config.dpop.grant(as.token_endpoint, run) : run())
  } catch (error) {
    throw tokenError(error, challenge)
  }
  const claims = result.claims!
  const record = withTokens(verifyClaims(claims, flow.requirement, config) as TokenRecord, result)
  if (flow.requirement) record.requirement = flow.requirement
  if (config.dpop) record.jkt = config.dpop.jkt
  return record
}

/**
 * `base` (the authentication: sub, acr, amr, auth_time, requirement) with the tokens of a token
 * response, a code exchange's or a refresh's: the new access token and its expiry, and the new
 * ID token and refresh token when the response has them (rotation replaces the old one).
 */
export function withTokens(base: TokenRecord, result: TokenResult): TokenRecord {
  const now = Date.now()
  const record: TokenRecord = { ...base, accessToken: result.access_token, tokenType: result.token_type === 'dpop' ? 'DPoP' : 'Bearer', obtainedAt: now }
  delete record.expiresAt
  if (result.expires_in !== undefined) record.expiresAt = now + result.expires_in * 1000
  if (result.id_token) record.idToken = result.id_token
  if (result.refresh_token) record.refreshToken = result.refresh_token
  return record
}

/** Map the OP's callback error: only that exact code is `unmet_authentication_requirements`. */
function callbackError(error: string, description: string | undefined, challenge: StepUpChallenge | undefined): StepUpError {
  const unmet = error === 'unmet_authentication_requirements'
  // The fix for that one is the user's: say so.
  return new StepUpError(unmet ? error : 'authorization_error', `the OP answered "${error}"${description ? `: ${description}` : ''}${unmet ? '; the user may need to enrol a stronger method' : ''}`, {
    challenge, opError: error, opErrorDescription: description,
  })
}

function tokenError(error: unknown, challenge: StepUpChallenge | undefined): StepUpError {
  if (error instanceof StepUpError) return error
  if (isAbortError(error)) return new StepUpError('aborted', 'the step-up was cancelled', { cause: error, challenge })
  return new StepUpError('token_error', `the token request failed: ${messageOf(error)}`, { cause: error, challenge })
}

export function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && ((error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError')
}
