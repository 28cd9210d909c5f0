import { describe, expect, it } from 'vitest'
import { parseTabMessage, toTokenRecord } from '../../src/tabs/messages.js'

const token = { accessToken: 'at', tokenType: 'Bearer', idToken: 'id', sub: 'alice', obtainedAt: 1, expiresAt: 2, acr: 'urn:test:2fa', amr: ['pwd', 'otp'], authTime: 3, refreshToken: 'rt', requirement: { acrValues: ['urn:test:2fa'], maxAge: 300 } }

describe('parseTabMessage', () => {
  it.each([
    ['hello', { v: 1, type: 'hello' }, { v: 1, type: 'hello' }],
    ['logout (extra fields dropped)', { v: 1, type: 'logout', everywhere: 'no' }, { v: 1, type: 'logout' }],
    ['a token', { v: 1, type: 'token', token }, { v: 1, type: 'token', token }],
    ['a minimal token', { v: 1, type: 'token', token: { accessToken: 'at', tokenType: 'Bearer', idToken: '', sub: 's', obtainedAt: 0 } }, { v: 1, type: 'token', token: { accessToken: 'at', tokenType: 'Bearer', idToken: '', sub: 's', obtainedAt: 0 } }],
    ['tokens', { v: 1, type: 'tokens', tokens: [token, token] }, { v: 1, type: 'tokens', tokens: [token, token] }],
    ['a DPoP token type in any case (spelled as the SDK does)', { v: 1, type: 'token', token: { ...token, tokenType: 'dpop' } }, { v: 1, type: 'token', token: { ...token, tokenType: 'DPoP' } }],
    ['a busy notice', { v: 1, type: 'busy', until: 5 }, { v: 1, type: 'busy', until: 5 }],
  ])('accepts %s', (_, data, expected) => {
    expect(parseTabMessage(data)).toEqual(expected)
  })

  it.each([
    ['null', null],
    ['a string', 'hello'],
    ['an array', [1]],
    ['no version', { type: 'hello' }],
    ['another version', { v: 2, type: 'hello' }],
    ['an unknown type', { v: 1, type: 'steal' }],
    ['a token message without a token', { v: 1, type: 'token' }],
    ['a numeric access token', { v: 1, type: 'token', token: { ...token, accessToken: 5 } }],
    ['an empty access token', { v: 1, type: 'token', token: { ...token, accessToken: '' } }],
    ['no sub', { v: 1, type: 'token', token: { ...token, sub: undefined } }],
    ['no idToken', { v: 1, type: 'token', token: { ...token, idToken: undefined } }],
    ['a string obtainedAt', { v: 1, type: 'token', token: { ...token, obtainedAt: '1' } }],
    ['an infinite expiry', { v: 1, type: 'token', token: { ...token, expiresAt: Infinity } }],
    ['amr not a list of strings', { v: 1, type: 'token', token: { ...token, amr: 'pwd' } }],
    ['a numeric acr', { v: 1, type: 'token', token: { ...token, acr: 2 } }],
    ['an empty refresh token', { v: 1, type: 'token', token: { ...token, refreshToken: '' } }],
    ['a requirement without acrValues', { v: 1, type: 'token', token: { ...token, requirement: { maxAge: 1 } } }],
    ['a negative maxAge', { v: 1, type: 'token', token: { ...token, requirement: { acrValues: [], maxAge: -1 } } }],
    ['tokens that are not a list', { v: 1, type: 'tokens', tokens: token }],
    ['tokens with one bad entry', { v: 1, type: 'tokens', tokens: [token, { ...token, sub: 1 }] }],
    ['a token type other than Bearer or DPoP', { v: 1, type: 'token', token: { ...token, tokenType: 'MAC' } }],
    ['an access token that would inject a header', { v: 1, type: 'token', token: { ...token, accessToken: 'at\r\nx-evil: 1' } }],
    ['an access token with a space', { v: 1, type: 'token', token: { ...token, accessToken: 'at x' } }],
    ['a refresh token with a control character', { v: 1, type: 'token', token: { ...token, refreshToken: 'rt\n' } }],
    ['an overlong access token', { v: 1, type: 'token', token: { ...token, accessToken: 'a'.repeat(20_000) } }],
    ['an overlong sub', { v: 1, type: 'token', token: { ...token, sub: 's'.repeat(1000) } }],
    ['too many amr values', { v: 1, type: 'token', token: { ...token, amr: Array.from({ length: 17 }, () => 'pwd') } }],
    ['an overlong amr value', { v: 1, type: 'token', token: { ...token, amr: ['p'.repeat(300)] } }],
    ['too many acr values', { v: 1, type: 'token', token: { ...token, requirement: { acrValues: Array.from({ length: 17 }, () => 'a') } } }],
    ['obtainedAt in the future', { v: 1, type: 'token', token: { ...token, obtainedAt: Date.now() + 120_000 } }],
    ['a busy notice without a time', { v: 1, type: 'busy' }],
    ['too many tokens', { v: 1, type: 'tokens', tokens: Array.from({ length: 17 }, () => token) }],
  ])('ignores %s', (_, data) => {
    expect(parseTabMessage(data)).toBeUndefined()
  })

  it('copies only the known fields of a token', () => {
    const record = toTokenRecord({ ...token, dpopKey: 'x', requirement: { acrValues: ['a'], extra: 1 }, __proto__: { polluted: true } })
    expect(record).toEqual(token.requirement && { ...token, requirement: { acrValues: ['a'] } })
    expect(Object.keys(record!)).not.toContain('dpopKey')
  })
})
