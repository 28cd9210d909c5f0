import type { Requirement } from '../core/requirement.js'
import type { TokenRecord } from '../core/tokens.js'

/**
 * What tabs of one client say to each other over their BroadcastChannel
 * (docs/decisions/0005-tabs.md). Every message carries `v: 1`.
 *
 * - `token`: this tab obtained a token (sign-in, step-up, refresh with rotation).
 * - `hello`: a tab just started and asks the others for their tokens.
 * - `tokens`: the answer to a hello: the sender's valid tokens.
 * - `logout`: signed out in one tab, signed out in all.
 * - `busy`: a tab is leaving for the OP (redirect step-up) and brings a token back until `until`
 *   (epoch ms); `until: 0` says it will not (its callback failed).
 */
export type TabMessage =
  | { v: 1; type: 'token'; token: TokenRecord }
  | { v: 1; type: 'hello' }
  | { v: 1; type: 'tokens'; tokens: TokenRecord[] }
  | { v: 1; type: 'logout' }
  | { v: 1; type: 'busy'; until: number }

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)
/** Longest string field taken (an ID token with many claims stays well under it). */
const MAX_TEXT = 16_384
/** Longest list (amr, acr values) taken, and the longest item in it. */
const MAX_ITEMS = 16
const MAX_ITEM = 256
/** How far in the future another tab's clock may put `obtainedAt`. */
const SKEW_MS = 60_000
const isText = (value: unknown, max = MAX_TEXT): value is string => typeof value === 'string' && value !== '' && value.length <= max
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
const isTexts = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length <= MAX_ITEMS && value.every((item) => typeof item === 'string' && item.length <= MAX_ITEM)
/** RFC 7235 token68: what may follow `Bearer ` or `DPoP ` in an Authorization header, nothing else. */
const isToken68 = (value: unknown): value is string => isText(value) && /^[A-Za-z0-9\-._~+/]+=*$/.test(value)
/** RFC 6749 VSCHAR (printable ASCII), what a refresh token is made of. */
const isVisible = (value: unknown): value is string => isText(value) && /^[\x20-\x7e]+$/.test(value)

/**
 * Messages on the channel are untrusted input (any script of the origin can post there, and an
 * older or newer version of the SDK may share it): the message if its shape and types are right,
 * else `undefined`. Tokens are copied field by field, so nothing unknown rides along.
 */
export function parseTabMessage(data: unknown): TabMessage | undefined {
  if (!isObject(data) || data.v !== 1) return undefined
  switch (data.type) {
    case 'hello':
    case 'logout':
      return { v: 1, type: data.type }
    case 'busy':
      return isNumber(data.until) ? { v: 1, type: 'busy', until: data.until } : undefined
    case 'token': {
      const token = toTokenRecord(data.token)
      return token && { v: 1, type: 'token', token }
    }
    case 'tokens': {
      if (!Array.isArray(data.tokens) || data.tokens.length > 16) return undefined
      const tokens = data.tokens.map((token) => toTokenRecord(token))
      return tokens.every((token) => token !== undefined) ? { v: 1, type: 'tokens', tokens: tokens as TokenRecord[] } : undefined
    }
    default:
      return undefined
  }
}

/**
 * A {@link TokenRecord} built from an untrusted value, or `undefined` when a field is missing, of
 * the wrong type or out of bounds: the type is Bearer or DPoP, the access token is token68 (it goes
 * into a header), strings and lists are bounded, and `obtainedAt` is not in the future.
 */
export function toTokenRecord(value: unknown, nowMs = Date.now()): TokenRecord | undefined {
  if (!isObject(value)) return undefined
  const { accessToken, tokenType, expiresAt, idToken, sub, acr, amr, authTime, requirement, obtainedAt, refreshToken, jkt } = value
  if (!isToken68(accessToken) || typeof tokenType !== 'string' || !/^(?:bearer|dpop)$/i.test(tokenType)) return undefined
  if (!(idToken === '' || isText(idToken)) || !isText(sub, MAX_ITEM) || !isNumber(obtainedAt) || obtainedAt > nowMs + SKEW_MS) return undefined
  if (!(expiresAt === undefined || isNumber(expiresAt)) || !(authTime === undefined || isNumber(authTime))) return undefined
  if (!(acr === undefined || acr === '' || isText(acr, MAX_ITEM)) || !(amr === undefined || isTexts(amr))) return undefined
  if (!(refreshToken === undefined || isVisible(refreshToken)) || !(jkt === undefined || isText(jkt, MAX_ITEM))) return undefined
  const record: TokenRecord = { accessToken, tokenType: tokenType.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', idToken, sub, obtainedAt }
  if (expiresAt !== undefined) record.expiresAt = expiresAt
  if (acr !== undefined) record.acr = acr
  if (amr !== undefined) record.amr = [...amr]
  if (authTime !== undefined) record.authTime = authTime
  if (refreshToken !== undefined) record.refreshToken = refreshToken
  if (jkt !== undefined) record.jkt = jkt
  if (requirement !== undefined) {
    if (!isObject(requirement) || !isTexts(requirement.acrValues)) return undefined
    const { maxAge } = requirement
    if (!(maxAge === undefined || (Number.isInteger(maxAge) && (maxAge as number) >= 0))) return undefined
    const copy: Requirement = { acrValues: [...requirement.acrValues] }
    if (maxAge !== undefined) copy.maxAge = maxAge as number
    record.requirement = copy
  }
  return record
}
