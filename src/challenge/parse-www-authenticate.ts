import { StepUpError } from '../errors/step-up-error.js'
import { codedTypeError } from '../utils/assert.js'
import type { WwwAuthenticateChallenge } from './types.js'

// Sticky scanners: each matches at one position only, with no nested quantifiers, so every
// scan is linear in what it reads and a hostile header cannot make the parser slow.
/** token = 1*tchar, RFC 9110 §5.6.2. */
const TOKEN = /[\w!#$%&'*+.^`|~-]+/y
/** token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", RFC 9110 §11.2, as a whole list element. */
const TOKEN68 = /[\w.~+/-]+=*(?=[ \t]*(?:,|$))/y
/** OWS = *( SP / HTAB ), RFC 9110 §5.6.3; BWS is the same production. */
const OWS = /[ \t]*/y
/** `OWS "," OWS` runs: empty list elements (RFC 9110 §5.6.1.2). */
const SEPARATORS = /[ \t,]*/y
/**
 * The inside of a quoted-string, RFC 9110 §5.6.4: *( qdtext / quoted-pair ), where
 * qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (written `\t !#-[\]-~\x80-\xff`) and
 * quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) (written `\\[\t -~\x80-\xff]`). qdtext has
 * no backslash, so the first character decides the alternative: no backtracking.
 */
const QUOTED_TEXT = /(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*/y

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
    throw codedTypeError(`"value" must be a string, received ${value === null ? 'null' : typeof value}`, 'ERR_INVALID_ARG_TYPE')
  }
  return parseChallenges(value, explain)
}

/**
 * What is wrong with a header, at which position: the public parser's messages are built from it
 * by {@link explain}, so that a bundle that only reads challenges (the client's own parsing,
 * which refuses a malformed header without a word) carries none of their text.
 */
type Problem =
  | 0 // Escape: a backslash before a character that may not be escaped
  | 1 // QuotedText: a character a quoted-string may not hold
  | 2 // Unterminated: a quoted-string without its closing quote
  | 3 // ParamValue: an auth-param without a value
  | 4 // Duplicate: an auth-param twice in one challenge
  | 5 // Scheme: something else where a challenge starts
  | 6 // SchemeOrParam: something else where a challenge or an auth-param starts
  | 7 // BeforeScheme: an auth-param before any auth-scheme
  | 8 // AfterToken68: an auth-param after a token68
  | 9 // NoSpace: an auth-param glued to its auth-scheme
  | 10 // Token68OrParam: something else after an auth-scheme and its space
  | 11 // Equals: an auth-param name without "="
  | 12 // AfterScheme: something else right after an auth-scheme
  | 13 // Comma: no "," between two elements

/** Turns a {@link Problem} into the error to throw; `name` and `scheme` are the names it is about. */
type Explain = (s: string, offset: number, problem: Problem, at: number, name?: string, scheme?: string) => Error

/** What the client's own parsing throws for any malformed header (it never shows it). */
const MALFORMED = new Error('malformed WWW-Authenticate')

/**
 * The parser of {@link parseWwwAuthenticate} for the SDK's own use: the same grammar and result,
 * but a malformed header throws what `explain` makes of it, or a bare error without it.
 */
export function parseChallenges(value: string, explain?: Explain): WwwAuthenticateChallenge[] {
  // Fetch strips leading and trailing HTTP whitespace from header values
  // (https://fetch.spec.whatwg.org/#concept-header-value-normalize); do the same so a raw
  // value and a Headers value parse alike. CR and LF anywhere else are CTLs. Positions in
  // messages count from the start of `value`.
  let offset = 0
  let end = value.length
  while (offset < end && HTTP_WHITESPACE.includes(value[offset]!)) offset++
  while (end > offset && HTTP_WHITESPACE.includes(value[end - 1]!)) end--
  const s = value.slice(offset, end)
  const challenges: WwwAuthenticateChallenge[] = []
  let current: WwwAuthenticateChallenge | undefined
  // What may follow the current challenge after a comma: more auth-params only when the scheme
  // was followed by 1*SP and parameters (`auth-scheme [ 1*SP ... ]`); after a token68 or a bare
  // scheme, only a new challenge.
  let follows: Follows = 'bare'
  let i = 0

  /** Advances `i` past what `re` matches at `i` and returns the match. */
  const scan = (re: RegExp): string => {
    const from = i
    re.lastIndex = i
    // test() rather than exec(): no match array per token. A failed test resets lastIndex to 0.
    if (re.test(s)) i = re.lastIndex
    return s.slice(from, i)
  }
  const fail = (problem: Problem, at = i, name?: string, scheme?: string): Error => (explain ? explain(s, offset, problem, at, name, scheme) : MALFORMED)
  const param = (name: string, at: number): void => {
    scan(OWS)
    let paramValue: string
    if (s[i] === '"') {
      const open = i++
      // Every backslash in the scanned text opens a quoted-pair: unescape them in one pass.
      paramValue = scan(QUOTED_TEXT).replace(/\\(.)/g, '$1')
      if (s[i] !== '"') {
        // A backslash here escapes nothing it may (a backslash at the very end reads as
        // "unexpected end of header" after it).
        throw s[i] === '\\' ? fail(0 /* Escape */, i + 1) : i < s.length ? fail(1 /* QuotedText */) : fail(2 /* Unterminated */, open)
      }
      i++
    } else {
      paramValue = scan(TOKEN)
      if (!paramValue) throw fail(3 /* ParamValue */, i, name)
    }
    // RFC 9110 §11.2: "Each parameter name MUST only occur once per challenge." Two values
    // for, say, acr_values would leave us guessing which one the server meant.
    if (Object.hasOwn(current!.params, name)) throw fail(4 /* Duplicate */, at, name)
    // defineProperty rather than assignment: a parameter named `__proto__` must become an own
    // property, not replace the object's prototype.
    Object.defineProperty(current!.params, name, { value: paramValue, enumerable: true, writable: true, configurable: true })
  }

  scan(SEPARATORS)
  while (i < s.length) {
    // Every list element starts with a token: an auth-scheme (a new challenge) or an
    // auth-param name (one more parameter of the current challenge).
    const nameStart = i
    const name = scan(TOKEN)
    if (!name) throw fail(current ? 6 /* SchemeOrParam */ : 5 /* Scheme */)
    const nameEnd = i
    scan(OWS)
    if (s[i] === '=') {
      // `token BWS "="` can only be an auth-param (RFC 9110 §11.2): it belongs to the
      // challenge before it, as in `Newauth realm="apps", type=1`.
      // 'params' implies a current challenge.
      if (follows !== 'params') {
        throw fail(!current ? 7 /* BeforeScheme */ : follows === 'token68' ? 8 /* AfterToken68 */ : 9 /* NoSpace */, nameStart, name.toLowerCase(), current?.scheme)
      }
      i++
      param(name.toLowerCase(), nameStart)
    } else {
      current = { scheme: name.toLowerCase(), params: {} }
      challenges.push(current)
      follows = 'bare'
      i = nameEnd
      if (s[i] === ' ') {
        while (s[i] === ' ') i++
        const spaces = i
        scan(OWS)
        // The recipient form of a list lets the parameter list open with empty elements:
        // `Bearer , realm="x"` is Bearer with a realm (RFC 9110 §5.6.1.2).
        if (i === s.length || s[i] === ',') follows = 'params'
        else if (i === spaces && scan(TOKEN68)) {
          current.token68 = s.slice(spaces, i)
          follows = 'token68'
        } else {
          // A tab after the spaces, or no token: either way the problem is at `spaces`.
          const paramName = i === spaces && scan(TOKEN)
          if (!paramName) throw fail(10 /* Token68OrParam */, spaces, undefined, current.scheme)
          scan(OWS)
          if (s[i] !== '=') throw fail(11 /* Equals */, i, paramName)
          i++
          param(paramName.toLowerCase(), spaces)
          follows = 'params'
        }
      } else {
        // OWS before the list comma is fine, but a token68 or parameters need a space, not a
        // tab: the message points at the character right after the scheme.
        scan(OWS)
        if (i < s.length && s[i] !== ',') throw fail(12 /* AfterScheme */, nameEnd, undefined, current.scheme)
      }
    }
    // After an element: OWS, then a comma or the end (RFC 9110 §5.6.1). Anything else,
    // like `a="b" c="d"` or `a=b=c`, is junk between elements.
    scan(OWS)
    if (i < s.length) {
      if (s[i] !== ',') throw fail(13 /* Comma */)
      scan(SEPARATORS)
    }
  }
  return challenges
}

/** What may follow a challenge after a comma; see `follows` in {@link parseWwwAuthenticate}. */
type Follows = 'params' | 'token68' | 'bare'

/** HTTP whitespace (SP, HTAB, CR, LF); callers test one character at a time. */
const HTTP_WHITESPACE = ' \t\r\n'

/** The public parser's error for a {@link Problem}: what is wrong, where, and what was expected there. */
function explain(s: string, offset: number, problem: Problem, at: number, name = '', scheme = ''): StepUpError {
  const position = `at position ${at + offset}`
  const param = `auth-param ${quote(name)} ${position}`
  const after = `after auth-scheme ${quote(scheme)}`
  let text: string
  switch (problem) {
    case 2 /* Unterminated */: text = `unterminated quoted-string ${position}`; break
    case 4 /* Duplicate */: text = `duplicate ${param}`; break
    case 7 /* BeforeScheme */: text = `${param} comes before any auth-scheme`; break
    case 8 /* AfterToken68 */: text = `${param} follows a token68; a challenge has either a token68 or parameters`; break
    case 9 /* NoSpace */: text = `${param} follows auth-scheme ${quote(scheme)} without a space`; break
    default: {
      const expected = ({
        0: 'a character that may be escaped',
        1: 'quoted-string text',
        3: `a token or quoted-string for auth-param ${quote(name)}`,
        5: 'an auth-scheme',
        6: 'an auth-scheme or auth-param',
        10: `a token68 or auth-param ${after}`,
        11: `"=" after parameter name ${quote(name)}`,
        12: `a space, "," or the end ${after}`,
        13: '"," or the end of the header',
      } as Record<Problem, string>)[problem]
      text = `unexpected ${at < s.length ? describeChar(s.charCodeAt(at)) : 'end of header'} ${position}, expected ${expected}`
    }
  }
  return new StepUpError('malformed_challenge', `invalid WWW-Authenticate header: ${text}`)
}

/** Quotes a name for an error message, shortened: a hostile header may hold a 64 KiB token. */
function quote(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)
}

/** Names a character for an error message without echoing control characters raw. */
function describeChar(c: number): string {
  const hex = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`
  if (c > 0x20 && c < 0x7f) return JSON.stringify(String.fromCharCode(c))
  return c === 9 ? `tab (${hex})` : c < 0x20 || c === 0x7f ? `control character ${hex}` : c > 0xff ? `character ${hex} (outside ISO-8859-1)` : `character ${hex}`
}
