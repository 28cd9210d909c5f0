/**
 * One challenge from a `WWW-Authenticate` field, as {@link parseWwwAuthenticate} returns it.
 * Scheme and parameter names are lower-cased; quoted-string values are unescaped.
 */
export interface WwwAuthenticateChallenge {
  /** The auth-scheme, lower-cased (`'bearer'`, `'dpop'`, `'basic'`). */
  scheme: string
  /** The auth-params by lower-cased name. Empty when the challenge has none or a token68. */
  params: Record<string, string>
  /** The token68, for challenges that carry one instead of parameters. */
  token68?: string
}

/**
 * An RFC 9470 step-up challenge: what the resource server demands.
 *
 * @see [RFC 9470 §3](https://www.rfc-editor.org/rfc/rfc9470.html#section-3)
 */
export interface StepUpChallenge {
  /** Acceptable `acr` values, in the server's order of preference. Empty means any acr. */
  acrValues: string[]
  /** Seconds since the last active authentication the server accepts; `0` means "authenticate now". */
  maxAge?: number
  /** The challenge's auth-scheme, lower-cased (`'bearer'` or `'dpop'`); absent for a body challenge. */
  scheme?: string
  /** The server's `error_description`, when it sent one. */
  description?: string
  /** Where the challenge was read: the `WWW-Authenticate` header or a JSON body. */
  source: 'header' | 'body'
}
