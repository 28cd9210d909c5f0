import { StepUpError } from '../errors/step-up-error.js'
import { codedTypeError } from '../utils/assert.js'
import type { WwwAuthenticateChallenge } from './types.js'

// Character codes used by the scanner.
const HTAB = 0x09
const LF = 0x0a
const CR = 0x0d
const SP = 0x20
const DQUOTE = 0x22
const COMMA = 0x2c
const EQUALS = 0x3d
const BACKSLASH = 0x5c
const DEL = 0x7f

/** tchar, RFC 9110 §5.6.2: `!#$%&'*+-.^_`|~`, DIGIT, ALPHA. */
const TCHAR = charTable("!#$%&'*+-.^_`|~")
/** token68 characters before the trailing `=` padding, RFC 9110 §11.2: ALPHA, DIGIT, `-._~+/`. */
const TOKEN68 = charTable('-._~+/')

function charTable(extra: string): Uint8Array {
  const table = new Uint8Array(128)
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 1
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1
  for (let k = 0; k < extra.length; k++) table[extra.charCodeAt(k)] = 1
  return table
}

/**
 * Parses a `WWW-Authenticate` field value into its challenges, strictly following the
 * RFC 9110 grammar: `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
 * `auth-param = token BWS "=" BWS ( token / quoted-string )`, the whole value being a
 * comma-separated list of challenges.
 *
 * Several field lines joined with `", "` (what the Fetch `Headers` API returns for a
 * repeated header) parse as several challenges. Empty list elements and whitespace
 * around commas are tolerated, as RFC 9110 §5.6.1.2 asks of recipients. Leading and
 * trailing HTTP whitespace (SP, HTAB, CR, LF) is ignored, as Fetch's header value
 * normalization would have removed it.
 *
 * The input is either parsed completely or refused completely: a half-parsed header is
 * never returned. The scanner is a single pass over the input, linear in its length, so
 * a hostile header cannot make it slow.
 *
 * @param value The field value, e.g. `response.headers.get('www-authenticate')`.
 * @returns The challenges in order. Scheme and parameter names are lower-cased,
 *   quoted-string values are unescaped, token and token68 values are returned as sent.
 *   Empty or whitespace-only input gives `[]`.
 * @throws {StepUpError} With code `malformed_challenge` when the value breaks the grammar:
 *   a duplicate parameter in one challenge, an unterminated quoted-string, a control
 *   character or a character above U+00FF, a parameter without a value, two parameters
 *   without a comma between them, an element that does not start with a token, and so on.
 *   The message names the problem and its position.
 * @throws {TypeError} With `code: 'ERR_INVALID_ARG_TYPE'` when `value` is not a string.
 * @example
 * ```ts
 * parseWwwAuthenticate(
 *   'Bearer error="insufficient_user_authentication", acr_values="myACR", Basic realm="api"',
 * )
 * // [
 * //   { scheme: 'bearer', params: { error: 'insufficient_user_authentication', acr_values: 'myACR' } },
 * //   { scheme: 'basic', params: { realm: 'api' } },
 * // ]
 * parseWwwAuthenticate('Negotiate abc==') // [{ scheme: 'negotiate', params: {}, token68: 'abc==' }]
 * ```
 * @see [RFC 9110 §11.6.1](https://www.rfc-editor.org/rfc/rfc9110.html#section-11.6.1)
 * @see [RFC 9110 §11.2](https://www.rfc-editor.org/rfc/rfc9110.html#section-11.2)
 */
export function parseWwwAuthenticate(value: string): WwwAuthenticateChallenge[] {
  if (typeof value !== 'string') {
    throw codedTypeError(`"value" must be a string, received ${describeType(value)}`, 'ERR_INVALID_ARG_TYPE')
  }

  // Fetch strips leading and trailing HTTP whitespace from header values
  // (https://fetch.spec.whatwg.org/#concept-header-value-normalize); do the same so a
  // raw value and a Headers value parse alike. CR and LF anywhere else are CTLs.
  let start = 0
  let end = value.length
  while (start < end && isHttpWhitespace(value.charCodeAt(start))) start++
  while (end > start && isHttpWhitespace(value.charCodeAt(end - 1))) end--

  const challenges: WwwAuthenticateChallenge[] = []
  let current: WwwAuthenticateChallenge | undefined
  // What may follow the current challenge after a comma:
  //   'params'  - it has a parameter list (the scheme was followed by 1*SP): more auth-params;
  //   'token68' - it carries a token68: only a new challenge;
  //   'bare'    - the scheme stood alone (no SP after it): only a new challenge, because
  //               `auth-scheme [ 1*SP ... ]` gives a bare scheme no parameter list.
  let follows: Follows = 'bare'
  let i = skipSeparators(start)

  while (i < end) {
    // Every list element starts with a token: an auth-scheme (a new challenge) or an
    // auth-param name (one more parameter of the current challenge).
    const nameStart = i
    const nameEnd = scanToken(i)
    if (nameEnd === nameStart) {
      throw unexpected(i, current === undefined ? 'an auth-scheme' : 'an auth-scheme or auth-param')
    }
    const afterName = skipOws(nameEnd)

    if (afterName < end && value.charCodeAt(afterName) === EQUALS) {
      // `token BWS "="` can only be an auth-param (RFC 9110 §11.2): it belongs to the
      // challenge before it, as in `Newauth realm="apps", type=1`.
      const name = value.slice(nameStart, nameEnd).toLowerCase()
      if (current === undefined) {
        throw malformed(`auth-param ${quote(name)} at position ${nameStart} comes before any auth-scheme`)
      }
      if (follows === 'token68') {
        throw malformed(
          `auth-param ${quote(name)} at position ${nameStart} follows a token68; a challenge has either a token68 or parameters`,
        )
      }
      if (follows === 'bare') {
        throw malformed(
          `auth-param ${quote(name)} at position ${nameStart} belongs to no parameter list: auth-scheme ${quote(current.scheme)} is not followed by a space`,
        )
      }
      i = parseParamValue(current, name, nameStart, afterName + 1)
    } else {
      current = { scheme: value.slice(nameStart, nameEnd).toLowerCase(), params: {} }
      challenges.push(current)
      ;[i, follows] = parseChallengeRest(current, nameEnd)
    }

    // After an element: OWS, then a comma or the end (RFC 9110 §5.6.1). Anything else,
    // like `a="b" c="d"` or `a=b=c`, is junk between elements.
    i = skipOws(i)
    if (i < end) {
      if (value.charCodeAt(i) !== COMMA) throw unexpected(i, '"," or the end of the header')
      i = skipSeparators(i)
    }
  }
  return challenges

  /**
   * What follows an auth-scheme that ends at `k`: nothing, a token68, or the first
   * auth-param. Returns the index after what it consumed and what may follow.
   */
  function parseChallengeRest(challenge: WwwAuthenticateChallenge, k: number): [number, Follows] {
    if (k === end) return [k, 'bare']
    const c = value.charCodeAt(k)
    if (c === COMMA) return [k, 'bare']
    if (c === HTAB) {
      // OWS before the list comma is fine; but `auth-scheme [ 1*SP ... ]` requires a
      // space, not a tab, before a token68 or parameters.
      const next = skipOws(k)
      if (next === end || value.charCodeAt(next) === COMMA) return [next, 'bare']
      throw malformed(
        `tab at position ${k} after auth-scheme ${quote(challenge.scheme)}; RFC 9110 requires a space before its parameters`,
      )
    }
    if (c !== SP) throw unexpected(k, `a space, "," or the end after auth-scheme ${quote(challenge.scheme)}`)

    let p = k + 1
    while (p < end && value.charCodeAt(p) === SP) p++
    // The recipient form of a list, `[ element ] *( OWS "," OWS [ element ] )`
    // (RFC 9110 §5.6.1.2), lets the parameter list open with empty elements:
    // `Bearer , realm="x"` is Bearer with a realm.
    const next = skipOws(p)
    if (next === end || value.charCodeAt(next) === COMMA) return [next, 'params']
    if (next !== p) throw unexpected(p, `a token68 or auth-param after auth-scheme ${quote(challenge.scheme)}`)

    // token68 or auth-param? A token68 is its whole element: `1*( ALPHA / DIGIT /
    // "-" / "." / "_" / "~" / "+" / "/" ) *"="` followed by OWS and a comma or the end.
    // Anything else must be an auth-param. The candidate is re-read at most once by the
    // auth-param branch, which keeps the scan linear.
    let q = p
    while (q < end && isIn(TOKEN68, value.charCodeAt(q))) q++
    if (q > p) {
      let r = q
      while (r < end && value.charCodeAt(r) === EQUALS) r++
      const s = skipOws(r)
      if (s === end || value.charCodeAt(s) === COMMA) {
        challenge.token68 = value.slice(p, r)
        return [r, 'token68']
      }
    }

    const nameEnd = scanToken(p)
    if (nameEnd === p) throw unexpected(p, `a token68 or auth-param after auth-scheme ${quote(challenge.scheme)}`)
    const afterName = skipOws(nameEnd)
    if (afterName === end || value.charCodeAt(afterName) !== EQUALS) {
      throw unexpected(afterName, `"=" after parameter name ${quote(value.slice(p, nameEnd))}`)
    }
    return [parseParamValue(challenge, value.slice(p, nameEnd).toLowerCase(), p, afterName + 1), 'params']
  }

  /**
   * Reads `BWS ( token / quoted-string )` from `k` (just after the `=`), stores the
   * parameter and returns the index after the value.
   */
  function parseParamValue(challenge: WwwAuthenticateChallenge, name: string, nameStart: number, k: number): number {
    const p = skipOws(k)
    let paramValue: string
    let next: number
    if (p < end && value.charCodeAt(p) === DQUOTE) {
      ;[paramValue, next] = parseQuotedString(p)
    } else {
      next = scanToken(p)
      if (next === p) {
        if (p === end || value.charCodeAt(p) === COMMA) {
          throw malformed(`auth-param ${quote(name)} at position ${nameStart} has no value`)
        }
        throw unexpected(p, `a token or quoted-string as the value of auth-param ${quote(name)}`)
      }
      paramValue = value.slice(p, next)
    }
    // RFC 9110 §11.2: "Each parameter name MUST only occur once per challenge." Two
    // values for, say, acr_values would leave us guessing which one the server meant.
    if (Object.hasOwn(challenge.params, name)) {
      throw malformed(`duplicate auth-param ${quote(name)} at position ${nameStart} in auth-scheme ${quote(challenge.scheme)}`)
    }
    // defineProperty rather than assignment: a parameter named `__proto__` must become
    // an own property, not replace the object's prototype.
    Object.defineProperty(challenge.params, name, { value: paramValue, enumerable: true, writable: true, configurable: true })
    return next
  }

  /**
   * Reads a quoted-string (RFC 9110 §5.6.4) whose opening DQUOTE is at `k`. Returns the
   * unescaped value and the index after the closing DQUOTE. The value is built from
   * slices between quoted-pairs, joined once, so a long run of escapes stays linear.
   */
  function parseQuotedString(k: number): [string, number] {
    let chunks: string[] | undefined
    let chunkStart = k + 1
    let p = k + 1
    while (p < end) {
      const c = value.charCodeAt(p)
      if (c === DQUOTE) {
        const last = value.slice(chunkStart, p)
        return [chunks === undefined ? last : chunks.join('') + last, p + 1]
      }
      if (c === BACKSLASH) {
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (p + 1 >= end) throw malformed(`quoted-string starting at position ${k} ends with a backslash at position ${p}`)
        const escaped = value.charCodeAt(p + 1)
        if (!isQuotedPairChar(escaped)) throw unexpected(p + 1, 'a character that may be escaped in a quoted-string')
        ;(chunks ??= []).push(value.slice(chunkStart, p))
        chunkStart = p + 1
        p += 2
        continue
      }
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (!isQdtext(c)) throw unexpected(p, 'quoted-string text')
      p++
    }
    throw malformed(`unterminated quoted-string starting at position ${k}`)
  }

  function scanToken(k: number): number {
    while (k < end && isIn(TCHAR, value.charCodeAt(k))) k++
    return k
  }

  /** OWS = *( SP / HTAB ), RFC 9110 §5.6.3; BWS is the same production. */
  function skipOws(k: number): number {
    while (k < end) {
      const c = value.charCodeAt(k)
      if (c !== SP && c !== HTAB) break
      k++
    }
    return k
  }

  /** Skips `OWS "," OWS` runs, i.e. any number of empty list elements (RFC 9110 §5.6.1.2). */
  function skipSeparators(k: number): number {
    while (k < end) {
      const c = value.charCodeAt(k)
      if (c !== SP && c !== HTAB && c !== COMMA) break
      k++
    }
    return k
  }

  function unexpected(k: number, expected: string): StepUpError {
    if (k >= end) return malformed(`unexpected end of header at position ${k}, expected ${expected}`)
    return malformed(`unexpected ${describeChar(value.charCodeAt(k))} at position ${k}, expected ${expected}`)
  }
}

/** What may follow a challenge after a comma; see `follows` in {@link parseWwwAuthenticate}. */
type Follows = 'params' | 'token68' | 'bare'

function malformed(problem: string): StepUpError {
  return new StepUpError('malformed_challenge', `invalid WWW-Authenticate header: ${problem}`)
}

function isIn(table: Uint8Array, c: number): boolean {
  return c < 128 && table[c] === 1
}

function isHttpWhitespace(c: number): boolean {
  return c === SP || c === HTAB || c === CR || c === LF
}

function isQdtext(c: number): boolean {
  return (
    c === HTAB ||
    c === SP ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x5b) ||
    (c >= 0x5d && c <= 0x7e) ||
    (c >= 0x80 && c <= 0xff)
  )
}

function isQuotedPairChar(c: number): boolean {
  return c === HTAB || (c >= SP && c <= 0x7e) || (c >= 0x80 && c <= 0xff)
}

/** Quotes a name for an error message, shortened: a hostile header may hold a 64 KiB token. */
function quote(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)
}

/** Names a character for an error message without echoing control characters raw. */
function describeChar(c: number): string {
  const hex = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`
  if (c === HTAB) return `tab (${hex})`
  if (c < SP || c === DEL) return `control character ${hex}`
  if (c > 0xff) return `character ${hex} (outside ISO-8859-1)`
  if (c > DEL) return `character ${hex}`
  return JSON.stringify(String.fromCharCode(c))
}

function describeType(value: unknown): string {
  return value === null ? 'null' : typeof value
}
