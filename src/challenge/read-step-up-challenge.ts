import { parseChallenges } from './parse-www-authenticate.js'
import type { StepUpChallenge } from './types.js'
import { must } from '../utils/assert.js'

/** The OAuth error code that marks a step-up challenge, RFC 9470 §3. */
const STEP_UP_ERROR = 'insufficient_user_authentication'
/** Larger JSON bodies are not read: a challenge is a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024
/** A `max_age`: 1 to 15 ASCII digits (15 digits stay below 2^53). */
const MAX_AGE = /^[0-9]{1,15}$/
/** acr_values is space-separated (RFC 9470 §3); an entry is a run of anything but SP/HTAB. */
const ACR_ENTRY = /[^ \t]+/g
/** JSON MIME types per WHATWG MIME Sniffing: application/json, text/json or a `+json` subtype. */
const JSON_ESSENCE = /^(?:application\/json|text\/json|[^/]+\/.*\+json)$/

/**
 * Reads the RFC 9470 step-up challenge of a `401` or `403` response, without consuming
 * the response's body.
 *
 * - Any other status gives `undefined`, without touching the body.
 * - When the response has a `WWW-Authenticate` header, only the header counts: the
 *   first `Bearer` or `DPoP` challenge whose `error` is `insufficient_user_authentication`
 *   is the step-up challenge. A header that breaks RFC 9110 gives `undefined` (fail
 *   closed: a header the SDK cannot read never starts an authorization), and so does a
 *   header with no step-up challenge, whatever the body says.
 * - Only when there is no `WWW-Authenticate` header at all (e.g. a cross-origin response
 *   whose header the browser hides), a JSON body
 *   `{"error":"insufficient_user_authentication","acr_values":"...","max_age":300}` is
 *   read from a clone of the response, up to 64 KiB, so the caller can still read it.
 *
 * @param response The response to inspect. Its body is never consumed.
 * @returns The challenge, or `undefined` when the response is not a readable step-up
 *   challenge. It never rejects for a `Response`, whatever its headers or body hold.
 * @throws {TypeError} (as a rejection) With `code: 'ERR_INVALID_ARG_TYPE'` when
 *   `response` is not a `Response`-like object.
 * @example
 * ```ts
 * const response = await fetch('https://api.example/transfer', { headers })
 * const challenge = await readStepUpChallenge(response)
 * if (challenge) {
 *   // e.g. { acrValues: ['urn:x:loa:2fa'], maxAge: 300, scheme: 'bearer', source: 'header' }
 *   console.log('step-up needed:', challenge.acrValues, challenge.maxAge)
 * }
 * const text = await response.text() // the body is still readable
 * ```
 * @see [RFC 9470 §3](https://www.rfc-editor.org/rfc/rfc9470.html#section-3)
 */
export async function readStepUpChallenge(response: Response): Promise<StepUpChallenge | undefined> {
  const candidate = response as Partial<Response> | null
  must(
    typeof candidate === 'object' &&
      candidate !== null &&
      typeof candidate.status === 'number' &&
      typeof candidate.headers?.get === 'function' &&
      typeof candidate.clone === 'function',
    'response',
    'a Response',
  )
  // RFC 9470 sets no status; RFC 6750 §3.1 uses 401 and 403 for token problems.
  if (response.status !== 401 && response.status !== 403) return undefined

  const header = response.headers.get('www-authenticate')
  if (header !== null) {
    const challenge = stepUpChallengeFromHeader(header)
    return challenge === 'malformed' ? undefined : challenge
  }

  return isJsonContentType(response.headers.get('content-type')) ? stepUpChallengeFromBody(await readCappedJson(response)) : undefined
}

/**
 * Finds the step-up challenge in a `WWW-Authenticate` field value: the first `Bearer` or
 * `DPoP` challenge whose `error` parameter is exactly `insufficient_user_authentication`.
 * Pure and synchronous, so a caller holding the header needs no async work.
 *
 * `acr_values` is split on runs of spaces and tabs, empty entries dropped, order kept;
 * without it `acrValues` is `[]` (any acr). `max_age` is kept only when it is 1 to 15
 * ASCII digits (`0` included); any other value is dropped and the challenge stays a
 * step-up.
 *
 * @param value The field value, or `null` when the response has no such header.
 * @returns The challenge (`source: 'header'`); `undefined` when `value` is `null` or holds
 *   no step-up challenge; `'malformed'` when `value` breaks the RFC 9110 grammar (treat it
 *   as "not a step-up": fail closed).
 * @example
 * ```ts
 * stepUpChallengeFromHeader('Bearer error="insufficient_user_authentication", max_age=0')
 * // { acrValues: [], maxAge: 0, scheme: 'bearer', source: 'header' }
 * stepUpChallengeFromHeader('Bearer error="invalid_token"') // undefined
 * stepUpChallengeFromHeader('Bearer error="a" error="b"') // 'malformed'
 * ```
 * @see [RFC 9470 §3](https://www.rfc-editor.org/rfc/rfc9470.html#section-3)
 */
export function stepUpChallengeFromHeader(value: string | null): StepUpChallenge | undefined | 'malformed' {
  if (value === null) return undefined
  let challenges
  try {
    challenges = parseChallenges(value)
  } catch {
    // For a string, the parser throws only for a malformed header.
    return 'malformed'
  }
  for (const { scheme, params } of challenges) {
    // RFC 9470 §3 uses the Bearer scheme; a DPoP-bound token (RFC 9449 §7.1) is
    // challenged with the same error under the DPoP scheme.
    const challenge = (scheme === 'bearer' || scheme === 'dpop') && fromFields(params, 'header', scheme)
    if (challenge) return challenge
  }
  return undefined
}

/**
 * Reads a step-up challenge from a parsed JSON body, the fallback for responses whose
 * `WWW-Authenticate` header is missing or hidden (a cross-origin response without
 * `Access-Control-Expose-Headers: WWW-Authenticate`).
 *
 * The body is an object with `error: "insufficient_user_authentication"`. `acr_values` is
 * a space-separated string or an array of strings (any other type makes the body not a
 * readable challenge, rather than silently accepting any acr); `max_age` is a
 * non-negative integer or a digit string (anything else is dropped);
 * `error_description` a string.
 *
 * @param json The parsed body, e.g. the result of `JSON.parse`.
 * @returns The challenge (`source: 'body'`, no `scheme`), or `undefined`.
 * @example
 * ```ts
 * stepUpChallengeFromBody({ error: 'insufficient_user_authentication', acr_values: ['mfa'], max_age: '300' })
 * // { acrValues: ['mfa'], maxAge: 300, source: 'body' }
 * ```
 * @see [RFC 9470 §3](https://www.rfc-editor.org/rfc/rfc9470.html#section-3)
 */
export function stepUpChallengeFromBody(json: unknown): StepUpChallenge | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  return fromFields(json as Readonly<Record<string, unknown>>, 'body')
}

/**
 * The challenge in header parameters or body fields, which follow the same rules: header
 * parameters are always strings, so the array and number forms only ever come from a body.
 */
function fromFields(fields: Readonly<Record<string, unknown>>, source: StepUpChallenge['source'], scheme?: string): StepUpChallenge | undefined {
  if (own(fields, 'error') !== STEP_UP_ERROR) return undefined
  // A string, an array of strings, or nothing (`[]`). Array entries are split too: an acr value
  // cannot contain a space, since acr_values is space-separated on the wire (OpenID Connect
  // Core §3.1.2.1).
  const acr: unknown[] = [own(fields, 'acr_values') ?? []].flat()
  // Any other type makes it no readable challenge, rather than silently accepting any acr.
  if (!acr.every((entry) => typeof entry === 'string')) return undefined
  const challenge: StepUpChallenge = { acrValues: acr.flatMap(splitAcrValues), source }
  if (scheme) challenge.scheme = scheme
  const maxAge = own(fields, 'max_age')
  // JSON's -0 is an integer >= 0; `+ 0` reports it as 0.
  // A number is held to the same 1 to 15 digits as a string: String() writes a non-negative
  // integer below 1e15 as plain digits (-0 as "0"), and anything else (a fraction, a sign,
  // an exponent, NaN) with a character MAX_AGE refuses.
  if ((typeof maxAge === 'number' || typeof maxAge === 'string') && MAX_AGE.test(String(maxAge))) {
    challenge.maxAge = Number(maxAge) + 0
  }
  const description = own(fields, 'error_description')
  if (typeof description === 'string') challenge.description = description
  return challenge
}

function splitAcrValues(value: string): string[] {
  return value.match(ACR_ENTRY) ?? []
}

/** JSON MIME type per WHATWG MIME Sniffing, judged on the essence (type/subtype, lower-cased). */
function isJsonContentType(contentType: string | null): boolean {
  return contentType !== null && JSON_ESSENCE.test(contentType.split(';')[0]!.trim().toLowerCase())
}

/**
 * The body of a clone parsed as JSON, or `undefined` when it is unavailable, larger than
 * {@link MAX_BODY_BYTES} or not JSON. The clone is taken now; reading it (with a byte cap, so a
 * large body without `Content-Length` is abandoned after 64 KiB instead of buffered whole) is in
 * body.ts, loaded on first use: only APIs that hide their header send body challenges.
 */
async function readCappedJson(response: Response): Promise<unknown> {
  if (response.bodyUsed) return undefined
  const length = response.headers.get('content-length')
  if (length !== null && /^[0-9]+$/.test(length) && Number(length) > MAX_BODY_BYTES) return undefined
  let copy: Response
  try {
    // Read a clone: the caller gets the response back with its body unread.
    copy = response.clone()
  } catch {
    return undefined // a locked or used body
  }
  return import('./body.js').then((body) => body.readJson(copy, MAX_BODY_BYTES), () => undefined)
}

/** An own property only: a parameter named `constructor` must not find Object's. */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}
