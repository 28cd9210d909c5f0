import * as oauth from 'oauth4webapi'
import { stateMismatch, StepUpError, type StepUpErrorCode } from '../errors/step-up-error.js'
import type { StepUpChallenge } from '../challenge/types.js'
import type { TokenRecord } from '../core/tokens.js'
import type { DpopClient } from '../dpop/dpop.js'
import type { PendingFlow } from './authorization-request.js'
import { verifyClaims, type VerifyOptions } from './id-token.js'

export interface RedeemConfig extends VerifyOptions {
  as: oauth.AuthorizationServer
  client: oauth.Client
  redirectUri: string
  httpOptions: oauth.TokenEndpointRequestOptions
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
  let validated: URLSearchParams
  try {
    // RFC 9207 first, error callbacks included: an "iss" that is not our OP (a mix-up attack)
    // must not get its error_description shown as ours.
    validated = oauth.validateAuthResponse(as, client, params, flow.state)
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) throw callbackError(error, challenge)
    throw new StepUpError('invalid_response', `invalid authorization response: ${messageOf(error)}`, { cause: error, challenge })
  }
  let result: oauth.TokenEndpointResponse
  const run = async (extra?: { headers: Record<string, string> }): Promise<oauth.TokenEndpointResponse> => {
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), validated, config.redirectUri, flow.codeVerifier, { ...config.httpOptions, ...extra },
    )
    return oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: flow.nonce,
      requireIdToken: true,
    })
  }
  try {
    result = await (config.dpop ? config.dpop.grant(as.token_endpoint!, run) : run())
  } catch (error) {
    throw tokenError(error, challenge)
  }
  const claims = oauth.getValidatedIdTokenClaims(result)!
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
export function withTokens(base: TokenRecord, result: oauth.TokenEndpointResponse): TokenRecord {
  const now = Date.now()
  const record: TokenRecord = { ...base, accessToken: result.access_token, tokenType: result.token_type === 'dpop' ? 'DPoP' : 'Bearer', obtainedAt: now }
  delete record.expiresAt
  if (typeof result.expires_in === 'number') record.expiresAt = now + result.expires_in * 1000
  if (result.id_token) record.idToken = result.id_token
  if (result.refresh_token) record.refreshToken = result.refresh_token
  return record
}

/** An error the OP sent, carrying its `error` and `error_description`. */
function opFailure(code: StepUpErrorCode, who: string, error: string, description: string | undefined, challenge: StepUpChallenge | undefined, cause?: unknown): StepUpError {
  return new StepUpError(code, `${who} answered "${error}"${description ? `: ${description}` : ''}`, { cause, challenge, opError: error, opErrorDescription: description })
}

/** Map the OP's callback error: only that exact code is `unmet_authentication_requirements`. */
function callbackError(error: oauth.AuthorizationResponseError, challenge: StepUpChallenge | undefined): StepUpError {
  const unmet = error.error === 'unmet_authentication_requirements'
  const failure = opFailure(unmet ? 'unmet_authentication_requirements' : 'authorization_error', 'the OP', error.error, error.error_description, challenge)
  // The fix for this one is the user's: say so.
  if (unmet) failure.message += '; the user may need to enrol a stronger method'
  return failure
}

function tokenError(error: unknown, challenge: StepUpChallenge | undefined): StepUpError {
  if (error instanceof StepUpError) return error
  if (error instanceof oauth.ResponseBodyError) return opFailure('token_error', 'the token endpoint', error.error, error.error_description, challenge, error)
  if (error instanceof oauth.OperationProcessingError) {
    return new StepUpError('invalid_response', `invalid token response: ${error.message}`, { cause: error, challenge })
  }
  if (isAbortError(error)) return new StepUpError('aborted', 'the step-up was cancelled', { cause: error, challenge })
  return new StepUpError('token_error', `the token request failed: ${messageOf(error)}`, { cause: error, challenge })
}

export function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && ((error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError')
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
