import { StepUpError } from '../errors/step-up-error.js'
import type { StepUpChallenge } from '../challenge/types.js'
import type { AcceptAcr, Requirement } from '../core/requirement.js'

export interface VerifiedClaims {
  sub: string
  acr?: string
  amr?: string[]
  authTime?: number
}

export interface VerifyOptions {
  /** The subject already signed in; a step-up must not switch users. */
  expectedSubject: string | undefined
  acceptAcr: AcceptAcr
  /** Seconds of clock skew allowed on `auth_time`. */
  clockTolerance: number
  challenge?: StepUpChallenge | undefined
}

/**
 * Check the validated ID token claims against what was asked for. `grant()` (oauth.ts) has
 * already checked iss, aud, azp, nonce, exp, iat, a string `sub` and a numeric `auth_time`; OPs
 * may treat `acr_values` as a hint (RFC 9470 §4), so this is where the step-up is proven.
 */
export function verifyClaims(claims: Record<string, unknown>, requirement: Requirement | undefined, options: VerifyOptions): VerifiedClaims {
  const { challenge } = options
  const sub = claims['sub'] as string
  if (options.expectedSubject !== undefined && sub !== options.expectedSubject) {
    throw new StepUpError(
      'subject_mismatch',
      'the step-up signed in a different user; logout() first to switch users',
      { challenge },
    )
  }
  const acr = typeof claims['acr'] === 'string' ? claims['acr'] : undefined
  const required = requirement?.acrValues ?? []
  if ((required.length && acr === undefined) || !options.acceptAcr(required, acr)) {
    const wanted = `${JSON.stringify(required.join(' '))} was required`
    throw new StepUpError(
      'acr_not_satisfied',
      acr === undefined
        ? `the ID token has no "acr" claim but ${wanted}; configure the OP to issue it`
        : `the user got acr ${JSON.stringify(acr)} but ${wanted}; the OP may treat acr_values as a hint (try requestAcrWith: 'claims')`,
      { challenge },
    )
  }
  const rawAuthTime = claims['auth_time']
  // Number.isFinite is false for anything but a finite number (no coercion).
  const authTime = Number.isFinite(rawAuthTime) ? (rawAuthTime as number) : undefined
  if (requirement?.maxAge !== undefined) {
    if (authTime === undefined) {
      throw new StepUpError(
        'max_age_exceeded',
        `the ID token has no "auth_time" claim but max_age=${requirement.maxAge} was required; configure the OP to issue it`,
        { challenge },
      )
    }
    const age = Math.floor(Date.now() / 1000) - authTime
    if (age > requirement.maxAge + options.clockTolerance) {
      throw new StepUpError(
        'max_age_exceeded',
        `the user authenticated ${age} s ago but max_age=${requirement.maxAge} was required; the OP did not re-authenticate`,
        { challenge },
      )
    }
  }
  const verified: VerifiedClaims = { sub }
  if (acr !== undefined) verified.acr = acr
  if (Array.isArray(claims['amr'])) verified.amr = (claims['amr'] as unknown[]).filter((v): v is string => typeof v === 'string')
  if (authTime !== undefined) verified.authTime = authTime
  return verified
}
