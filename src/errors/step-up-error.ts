import type { StepUpChallenge } from '../challenge/types.js'

/**
 * Every way a step-up can fail, as a stable string. The `code` is the contract; the
 * message may change between versions. Each code is documented with its cause and fix
 * in the README's error table.
 *
 * - `acr_not_satisfied`: the new ID token's `acr` is missing or not acceptable for the challenge.
 * - `subject_mismatch`: the step-up returned a different user (`sub`) than the one signed in.
 * - `max_age_exceeded`: `auth_time` is missing or older than the challenge's `max_age` allows.
 * - `loop_detected`: the retried request was challenged again; no second flow is started.
 * - `popup_blocked`: the browser refused to open the popup (no user gesture).
 * - `popup_closed`: the user closed the popup before the OP answered.
 * - `timeout`: an interaction took longer than its configured `timeout`.
 * - `unmet_authentication_requirements`: the OP said the user cannot meet the requirement.
 * - `authorization_error`: any other OP error (`access_denied`, `login_required`, …); see `opError`.
 * - `state_mismatch`: the callback's `state` belongs to no pending flow (stale tab, forgery).
 * - `challenge_unreadable`: a cross-origin 401 whose `WWW-Authenticate` the browser hid.
 * - `malformed_challenge`: `parseWwwAuthenticate` was given a header that breaks RFC 9110 §11.
 * - `aborted`: the step-up was cancelled (its signal fired, or `logout()` ran).
 * - `invalid_response`: a callback or token response failed validation (issuer, nonce, signature, audience),
 *   or the OP answered a DPoP token request with a Bearer token (enable DPoP for the client at the OP).
 * - `token_error`: the token endpoint answered an error or could not be reached; with `dpop: true`, also
 *   when DPoP cannot be set up (no WebCrypto outside a secure context: serve the app over https).
 * - `discovery_error`: the OP's metadata could not be fetched or is invalid.
 */
export type StepUpErrorCode =
  | 'acr_not_satisfied'
  | 'subject_mismatch'
  | 'max_age_exceeded'
  | 'loop_detected'
  | 'popup_blocked'
  | 'popup_closed'
  | 'timeout'
  | 'unmet_authentication_requirements'
  | 'authorization_error'
  | 'state_mismatch'
  | 'challenge_unreadable'
  | 'malformed_challenge'
  | 'aborted'
  | 'invalid_response'
  | 'token_error'
  | 'discovery_error'

/** Options for {@link StepUpError}. */
export interface StepUpErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown
  /** The challenge that started the step-up, if any. */
  challenge?: StepUpChallenge | undefined
  /** The OP's `error` from the callback (for `unmet_authentication_requirements` and `authorization_error`). */
  opError?: string | undefined
  /** The OP's `error_description` from the callback. */
  opErrorDescription?: string | undefined
}

/**
 * The one error type stepup-fetch rejects with. Switch on {@link StepUpError.code}.
 *
 * @example
 * ```ts
 * try {
 *   await stepUp.fetch('/api/transfer', { method: 'POST', body })
 * } catch (error) {
 *   if (isStepUpError(error, 'popup_blocked')) showVerifyButton()
 *   else throw error
 * }
 * ```
 */
export class StepUpError extends Error {
  /** Always `'StepUpError'`, so {@link isStepUpError} works across realms (popups, iframes). */
  override readonly name = 'StepUpError'
  /** The stable reason; see {@link StepUpErrorCode}. */
  declare readonly code: StepUpErrorCode
  /** The challenge that started the step-up, when there was one. */
  declare readonly challenge?: StepUpChallenge
  /** The OP's `error` value, for errors the OP sent to the callback. */
  declare readonly opError?: string
  /** The OP's `error_description`, when it sent one. */
  declare readonly opErrorDescription?: string

  /**
   * @param code The stable reason.
   * @param message What happened and what to do about it.
   * @param options The cause, challenge and OP error values.
   */
  constructor(code: StepUpErrorCode, message: string, options: StepUpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    // Non-enumerable: a challenge or cause must not end up in JSON logs by accident.
    for (const key of ['challenge', 'opError', 'opErrorDescription'] as const) {
      const value = options[key]
      if (value !== undefined) Object.defineProperty(this, key, { value, configurable: true })
    }
  }
}

/**
 * True when `error` is a {@link StepUpError} (optionally with the given `code`), also for
 * errors created in another realm such as a popup window.
 *
 * @param error Anything caught.
 * @param code When given, the error must also carry this code.
 * @returns Whether `error` is a StepUpError (with that code).
 * @example
 * ```ts
 * if (isStepUpError(error, 'loop_detected')) console.warn('the API keeps challenging')
 * ```
 */
export function isStepUpError(error: unknown, code?: StepUpErrorCode): error is StepUpError {
  // typeof 'object' keeps out functions (the StepUpError class itself is named 'StepUpError'); `?.` null.
  return (
    (error instanceof StepUpError || (typeof error === 'object' && (error as { name?: unknown } | null)?.name === 'StepUpError')) &&
    (code === undefined || (error as StepUpError).code === code)
  )
}

/** The callback's `state` belongs to no pending flow: one message wherever that is found. */
export function stateMismatch(challenge?: StepUpChallenge): StepUpError {
  return new StepUpError('state_mismatch', 'the callback belongs to no pending step-up (a stale tab, an old or forged link); start again from the app', { challenge })
}

/** What an unknown failure says, for a message of ours. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
