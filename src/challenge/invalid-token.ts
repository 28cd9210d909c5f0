import { parseWwwAuthenticate } from './parse-www-authenticate.js'

/**
 * Whether a `WWW-Authenticate` value refuses the token as expired or invalid
 * (`Bearer error="invalid_token"`, or the same under the DPoP scheme): the "upon expiry"
 * signal that makes the SDK refresh once. A malformed header is no such signal.
 *
 * @see [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750.html#section-3.1)
 */
export function isInvalidTokenChallenge(value: string | null): boolean {
  try {
    return value !== null && parseWwwAuthenticate(value).some(({ scheme, params }) => (scheme === 'bearer' || scheme === 'dpop') && params['error'] === 'invalid_token')
  } catch {
    return false
  }
}
