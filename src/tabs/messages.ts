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
 */
export type TabMessage =
  | { v: 1; type: 'token'; token: TokenRecord }
  | { v: 1; type: 'hello' }
  | { v: 1; type: 'tokens'; tokens: TokenRecord[] }
  | { v: 1; type: 'logout' }

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)
const isText = (value: unknown): value is string => typeof value === 'string' && value !== ''
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
const isTexts = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string')

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
    case 'token': {
      const token = toTokenRecord(data.token)
      return token && { v: 1, type: 'token', token }
    }
    case 'tokens': {
      if (!Array.isArray(data.tokens) || data.tokens.length > 16) return undefined
      const tokens = data.tokens.map(toTokenRecord)
      return tokens.every((token) => token !== undefined) ? { v: 1, type: 'tokens', tokens: tokens as TokenRecord[] } : undefined
    }
    default:
      return undefined
  }
}

/** A {@link TokenRecord} built from an untrusted value, or `undefined` when a field is missing or of the wrong type. */
export function toTokenRecord(value: unknown): TokenRecord | undefined {
  if (!isObject(value)) return undefined
  const { accessToken, tokenType, expiresAt, idToken, sub, acr, amr, authTime, requirement, obtainedAt, refreshToken, jkt } = value
  if (!isText(accessToken) || !isText(tokenType) || typeof idToken !== 'string' || !isText(sub) || !isNumber(obtainedAt)) return undefined
  if (!(expiresAt === undefined || isNumber(expiresAt)) || !(authTime === undefined || isNumber(authTime))) return undefined
  if (!(acr === undefined || typeof acr === 'string') || !(amr === undefined || isTexts(amr)) || !(refreshToken === undefined || isText(refreshToken)) || !(jkt === undefined || isText(jkt))) return undefined
  const record: TokenRecord = { accessToken, tokenType, idToken, sub, obtainedAt }
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
