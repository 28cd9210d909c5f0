import { parseChallenges } from './parse-www-authenticate.js'

/**
 * Whether a `WWW-Authenticate` value carries a Bearer or DPoP challenge with this `error`. A
 * malformed header carries none.
 */
export function hasChallengeError(value: string | null, error: string): boolean {
  try {
    return value !== null && parseChallenges(value).some(({ scheme, params }) => (scheme === 'bearer' || scheme === 'dpop') && params['error'] === error)
  } catch {
    return false
  }
}

/**
 * Whether a `WWW-Authenticate` value refuses the token as expired or invalid
 * (`Bearer error="invalid_token"`, or the same under the DPoP scheme): the "upon expiry"
 * signal that makes the SDK refresh once. A malformed header is no such signal.
 *
 * @see [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750.html#section-3.1)
 */
export const isInvalidTokenChallenge = (value: string | null): boolean => hasChallengeError(value, 'invalid_token')
