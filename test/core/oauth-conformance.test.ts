// Differential tests for src/flows/oauth.ts, the SDK's own OAuth/OIDC client steps that replaced
// oauth4webapi (still a dev dependency, pinned). Every case goes through both with the same input
// and states the verdict of each (accept, or reject: ours with its StepUpError code). Where the two
// disagree the case carries a `why`, and a table check below fails on any disagreement without
// one, so a behaviour change on either side shows up here instead of being averaged away.
//
// oauth4webapi's rejections must be its own protocol errors (OperationProcessingError, …): a
// TypeError from misusing its API would otherwise pass for a "reject".
import { createHash } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StepUpError, type StepUpErrorCode } from '../../src/errors/step-up-error.js'
import { codeFrom, discover, grant, pkceChallenge, randomToken, type Metadata, type OAuthClient, type TokenResult } from '../../src/flows/oauth.js'

const ISSUER = 'https://op.example'
const CLIENT_ID = 'spa'
const REDIRECT_URI = 'https://app.example/callback'
const NONCE = 'n-0S6_WzA2Mj'
const STATE = 'af0ifjsldkj'
const TOLERANCE = 30
/** The fixed clock, in seconds. */
const NOW = 1_760_000_000

const AS: Metadata = { issuer: ISSUER, authorization_endpoint: `${ISSUER}/auth`, token_endpoint: `${ISSUER}/token` }
const theirAs = (as: Metadata): oauth.AuthorizationServer => as as unknown as oauth.AuthorizationServer
const THEIR_CLIENT: oauth.Client = { client_id: CLIENT_ID, [oauth.clockTolerance]: TOLERANCE }

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(NOW * 1000)
})
afterEach(() => {
  vi.useRealTimers()
})

// ---------------------------------------------------------------------------------------------
// Harness

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }
type OurVerdict = 'accept' | StepUpErrorCode | 'TypeError'
type TheirVerdict = 'accept' | 'reject'

interface Verdicts {
  name: string
  ours: OurVerdict
  theirs: TheirVerdict
  /** Required exactly when one side accepts and the other rejects: why that is fine (or a finding). */
  why?: string
}

async function settle<T>(run: () => Promise<T> | T): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() }
  } catch (error) {
    return { ok: false, error }
  }
}

function ourVerdict(outcome: Outcome<unknown>): OurVerdict {
  if (outcome.ok) return 'accept'
  if (outcome.error instanceof StepUpError) return outcome.error.code
  if (outcome.error instanceof TypeError) return 'TypeError'
  throw outcome.error
}

function theirVerdict(outcome: Outcome<unknown>): TheirVerdict {
  if (outcome.ok) return 'accept'
  const error = outcome.error
  if (
    error instanceof oauth.OperationProcessingError ||
    error instanceof oauth.UnsupportedOperationError ||
    error instanceof oauth.ResponseBodyError ||
    error instanceof oauth.AuthorizationResponseError ||
    error instanceof oauth.WWWAuthenticateChallengeError
  ) {
    return 'reject'
  }
  // processDiscoveryResponse parses the metadata's issuer with new URL().
  if (error instanceof TypeError && (error as { code?: unknown }).code === 'ERR_INVALID_URL') return 'reject'
  throw error // not a verdict: the harness misused oauth4webapi
}

const agrees = (c: Verdicts): boolean => (c.ours === 'accept') === (c.theirs === 'accept')

/** Every case where the libraries disagree says why; no case that agrees pretends otherwise. */
function checkTable(cases: Verdicts[]): void {
  it('has a reason for every disagreement, and only for those', () => {
    for (const c of cases) expect({ name: c.name, why: c.why !== undefined }).toEqual({ name: c.name, why: !agrees(c) })
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })
}

const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url')
const SIG = 'c2lnbmF0dXJlLW5vdC1jaGVja2Vk'

/** An unsigned but well-formed compact JWS (neither library verifies ID token signatures here). */
const jws = (claims: unknown, header: unknown = { alg: 'RS256' }): string => `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${SIG}`

const CLAIMS = { iss: ISSUER, sub: 'alice', aud: CLIENT_ID, exp: NOW + 300, iat: NOW, auth_time: NOW - 5, nonce: NONCE, acr: 'urn:x:2fa' }
/** The ID token claims with `changes` (an `undefined` value removes the claim). */
const idToken = (changes: Record<string, unknown> = {}, header?: unknown): string => jws({ ...CLAIMS, ...changes }, header)

/** The ID token in the standard base64 alphabet, padded (its claims need a "+", a "/" and padding). */
const STANDARD_BASE64 = [{ alg: 'RS256' }, { ...CLAIMS, x: '???>>>?>' }].map((part) => Buffer.from(JSON.stringify(part)).toString('base64')).join('.') + `.${SIG}`

const TOKENS = { access_token: 'at-1', token_type: 'Bearer', expires_in: 3600, scope: 'openid', id_token: idToken() }

interface Reply {
  status?: number
  /** A string is sent as is; anything else as JSON. */
  body?: unknown
  /** Content type; `null` for none. Defaults to application/json. */
  contentType?: string | null
  headers?: Record<string, string>
}

/** A fresh Response per call (each side consumes its own). */
function respond({ status = 200, body = null, contentType = 'application/json', headers = {} }: Reply): Response {
  const text = typeof body === 'string' ? body : body === null ? null : JSON.stringify(body)
  const response = new Response(status === 302 ? null : text, { status, headers })
  if (contentType === null) response.headers.delete('content-type')
  else response.headers.set('content-type', contentType)
  return response
}

interface Sent {
  url: string
  init: RequestInit
}

function ourClient(reply: () => Response, sent: Sent[] = []): OAuthClient {
  return {
    clientId: CLIENT_ID,
    insecure: false,
    clockTolerance: TOLERANCE,
    fetch: async (url, init) => {
      sent.push({ url, init })
      return reply()
    },
  }
}

const CODE_GRANT = { grant_type: 'authorization_code', code: 'c', redirect_uri: REDIRECT_URI, code_verifier: 'v' }
const REFRESH_GRANT = { grant_type: 'refresh_token', refresh_token: 'r' }

/** The result fields both libraries hand back, for comparing accepted responses. */
function normalizedOurs(result: TokenResult) {
  const { access_token, token_type, expires_in, refresh_token, id_token, claims } = result
  return { access_token, token_type, expires_in, refresh_token, id_token, claims }
}
function normalizedTheirs(result: oauth.TokenEndpointResponse) {
  const { access_token, token_type, expires_in, refresh_token, id_token } = result
  return { access_token, token_type, expires_in, refresh_token, id_token, claims: oauth.getValidatedIdTokenClaims(result) as Record<string, unknown> | undefined }
}

// ---------------------------------------------------------------------------------------------
// 1 and 2. Token responses

interface TokenCase extends Verdicts {
  reply: Reply
  as?: Partial<Metadata>
  /** For a token_error: the OP's error and description as ours reports them. */
  opError?: string
  opErrorDescription?: string
}

/** The token response with `changes` to its JSON body (an `undefined` value removes the member). */
const tokens = (changes: Record<string, unknown> = {}): Reply => ({ body: { ...TOKENS, ...changes } })
/** The token response whose ID token has `changes` to its claims. */
const claims = (changes: Record<string, unknown>, header?: unknown): Reply => tokens({ id_token: idToken(changes, header) })

/** The cases shared by code exchanges and refreshes: the ID token, when present, gets the same checks. */
const idTokenCases: TokenCase[] = [
  { name: 'a valid response', reply: tokens(), ours: 'accept', theirs: 'accept' },
  // exp
  { name: 'exp missing', reply: claims({ exp: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'exp a string', reply: claims({ exp: String(NOW + 300) }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'exp past, beyond the tolerance (now - 31)', reply: claims({ exp: NOW - TOLERANCE - 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'exp at the edge of the tolerance (now - 30)', reply: claims({ exp: NOW - TOLERANCE }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'exp past, within the tolerance (now - 29)', reply: claims({ exp: NOW - TOLERANCE + 1 }), ours: 'accept', theirs: 'accept' },
  // iat
  { name: 'iat missing', reply: claims({ iat: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'iat a string', reply: claims({ iat: String(NOW) }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'iat in the future (neither checks its value)', reply: claims({ iat: NOW + 3600 }), ours: 'accept', theirs: 'accept' },
  // iss
  { name: 'iss wrong', reply: claims({ iss: 'https://evil.example' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'iss missing', reply: claims({ iss: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'iss with a trailing slash (compared as a string)', reply: claims({ iss: `${ISSUER}/` }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'iss a number', reply: claims({ iss: 1 }), ours: 'invalid_response', theirs: 'reject' },
  // aud and azp
  { name: 'aud wrong', reply: claims({ aud: 'other' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud missing', reply: claims({ aud: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud a number', reply: claims({ aud: 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud an array containing the client', reply: claims({ aud: [CLIENT_ID] }), ours: 'accept', theirs: 'accept' },
  { name: 'aud an array without the client', reply: claims({ aud: ['other'] }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud an empty array', reply: claims({ aud: [] }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud with 2 entries and no azp', reply: claims({ aud: [CLIENT_ID, 'other'] }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud with 2 entries and azp = client', reply: claims({ aud: ['other', CLIENT_ID], azp: CLIENT_ID }), ours: 'accept', theirs: 'accept' },
  { name: 'aud with 2 entries and azp wrong', reply: claims({ aud: [CLIENT_ID, 'other'], azp: 'other' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud with 2 entries, azp = client, client not in aud', reply: claims({ aud: ['a', 'b'], azp: CLIENT_ID }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'aud = client and azp = client', reply: claims({ azp: CLIENT_ID }), ours: 'accept', theirs: 'accept' },
  {
    name: 'aud = client (string) and azp wrong',
    reply: claims({ azp: 'other' }),
    ours: 'invalid_response',
    theirs: 'accept',
    why: 'intended: an azp that is not us means the token was issued to another party (OIDC Core 3.1.3.7 item 5); oauth4webapi only checks azp with several audiences',
  },
  {
    name: 'aud = [client] and azp wrong',
    reply: claims({ aud: [CLIENT_ID], azp: 'other' }),
    ours: 'invalid_response',
    theirs: 'accept',
    why: 'intended: as above, a single-entry aud array is still one audience for oauth4webapi, which then ignores azp',
  },
  // sub
  { name: 'sub missing', reply: claims({ sub: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'sub a number', reply: claims({ sub: 42 }), ours: 'invalid_response', theirs: 'reject' },
  // nbf
  { name: 'nbf in the future, beyond the tolerance (now + 31)', reply: claims({ nbf: NOW + TOLERANCE + 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'nbf in the future, within the tolerance (now + 30)', reply: claims({ nbf: NOW + TOLERANCE }), ours: 'accept', theirs: 'accept' },
  { name: 'nbf a string', reply: claims({ nbf: String(NOW) }), ours: 'invalid_response', theirs: 'reject' },
  // auth_time
  { name: 'auth_time a string', reply: claims({ auth_time: String(NOW) }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'auth_time negative', reply: claims({ auth_time: -1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'auth_time 0', reply: claims({ auth_time: 0 }), ours: 'accept', theirs: 'accept' },
  { name: 'auth_time missing (no max_age asked here)', reply: claims({ auth_time: undefined }), ours: 'accept', theirs: 'accept' },
  // header
  { name: 'alg none', reply: claims({}, { alg: 'none' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'alg HS256', reply: claims({}, { alg: 'HS256' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'alg missing', reply: claims({}, { typ: 'JWT' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'alg ES256, listed in id_token_signing_alg_values_supported', reply: claims({}, { alg: 'ES256' }), as: { id_token_signing_alg_values_supported: ['ES256', 'PS256'] }, ours: 'accept', theirs: 'accept' },
  { name: 'alg RS256, not listed in id_token_signing_alg_values_supported', reply: tokens(), as: { id_token_signing_alg_values_supported: ['ES256'] }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'alg HS256 listed by the OP (neither verifies the signature)', reply: claims({}, { alg: 'HS256' }), as: { id_token_signing_alg_values_supported: ['HS256'] }, ours: 'accept', theirs: 'accept' },
  { name: 'id_token_signing_alg_values_supported not an array: RS256 is the default', reply: tokens(), as: { id_token_signing_alg_values_supported: 'ES256' }, ours: 'accept', theirs: 'accept' },
  { name: 'crit header present', reply: claims({}, { alg: 'RS256', crit: ['exp'] }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'typ and kid headers', reply: claims({}, { alg: 'RS256', typ: 'JWT', kid: 'k1' }), ours: 'accept', theirs: 'accept' },
  // structure
  { name: 'a 5-part JWE', reply: tokens({ id_token: 'eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'a 2-part token', reply: tokens({ id_token: idToken().split('.').slice(0, 2).join('.') }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'a 4-part token', reply: tokens({ id_token: `${idToken()}.${SIG}` }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'header not JSON', reply: tokens({ id_token: `${b64url('{alg:RS256}')}.${b64url(JSON.stringify(CLAIMS))}.${SIG}` }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'header not base64url', reply: tokens({ id_token: `e!!!.${b64url(JSON.stringify(CLAIMS))}.${SIG}` }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'header an array', reply: tokens({ id_token: jws(CLAIMS, ['RS256']) }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'payload an array', reply: tokens({ id_token: jws([CLAIMS]) }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'payload null', reply: tokens({ id_token: jws(null) }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'empty signature part (neither verifies it)', reply: tokens({ id_token: `${idToken().split('.').slice(0, 2).join('.')}.` }), ours: 'accept', theirs: 'accept' },
  {
    // Node 20 has no Uint8Array.fromBase64, so oauth4webapi decodes with atob like ours. Where it
    // exists (recent browsers) oauth4webapi uses the strict base64url alphabet and rejects this.
    name: 'segments in the standard base64 alphabet (+ and /) with padding',
    reply: tokens({ id_token: STANDARD_BASE64 }),
    ours: 'accept',
    theirs: 'accept',
  },
  { name: 'a newline inside a segment', reply: tokens({ id_token: idToken().replace('.', '\n.') }), ours: 'accept', theirs: 'accept' },
  {
    name: 'a non-ASCII space (U+00A0) inside a segment',
    reply: tokens({ id_token: idToken().replace('.', '\u00a0.') }),
    ours: 'invalid_response',
    theirs: 'accept',
    why: 'stricter on purpose: oauth4webapi strips /\\s/ (Unicode whitespace) before atob; ours hands the segment to atob, which only skips ASCII whitespace',
  },
  // the ID token member itself
  { name: 'id_token empty', reply: tokens({ id_token: '' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'id_token a number', reply: tokens({ id_token: 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'id_token null', reply: tokens({ id_token: null }), ours: 'invalid_response', theirs: 'reject' },
  // the other members
  { name: 'access_token missing', reply: tokens({ access_token: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'access_token empty', reply: tokens({ access_token: '' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'access_token a number', reply: tokens({ access_token: 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'token_type missing', reply: tokens({ token_type: undefined }), ours: 'invalid_response', theirs: 'reject' },
  { name: "token_type 'Bearer'", reply: tokens({ token_type: 'Bearer' }), ours: 'accept', theirs: 'accept' },
  { name: "token_type 'bearer'", reply: tokens({ token_type: 'bearer' }), ours: 'accept', theirs: 'accept' },
  { name: "token_type 'BEARER'", reply: tokens({ token_type: 'BEARER' }), ours: 'accept', theirs: 'accept' },
  { name: "token_type 'DPoP'", reply: tokens({ token_type: 'DPoP' }), ours: 'accept', theirs: 'accept' },
  { name: "token_type 'mac'", reply: tokens({ token_type: 'mac' }), ours: 'invalid_response', theirs: 'reject' },
  { name: "token_type ' Bearer'", reply: tokens({ token_type: ' Bearer' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'token_type a number', reply: tokens({ token_type: 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: "expires_in '3600' (a string)", reply: tokens({ expires_in: '3600' }), ours: 'accept', theirs: 'accept' },
  { name: "expires_in '12abc' (parseFloat on both sides)", reply: tokens({ expires_in: '12abc' }), ours: 'accept', theirs: 'accept' },
  { name: 'expires_in negative', reply: tokens({ expires_in: -1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: "expires_in 'abc'", reply: tokens({ expires_in: 'abc' }), ours: 'invalid_response', theirs: 'reject' },
  { name: "expires_in ''", reply: tokens({ expires_in: '' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'expires_in null', reply: tokens({ expires_in: null }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'expires_in 1e400 (Infinity)', reply: { body: JSON.stringify(TOKENS).replace('"expires_in":3600', '"expires_in":1e400') }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'expires_in 0', reply: tokens({ expires_in: 0 }), ours: 'accept', theirs: 'accept' },
  { name: 'expires_in missing', reply: tokens({ expires_in: undefined }), ours: 'accept', theirs: 'accept' },
  { name: 'refresh_token present', reply: tokens({ refresh_token: 'rt-1' }), ours: 'accept', theirs: 'accept' },
  { name: 'refresh_token empty', reply: tokens({ refresh_token: '' }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'refresh_token a number', reply: tokens({ refresh_token: 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'scope a number', reply: tokens({ scope: 1 }), ours: 'invalid_response', theirs: 'reject' },
  { name: 'scope missing', reply: tokens({ scope: undefined }), ours: 'accept', theirs: 'accept' },
  { name: 'unknown members', reply: tokens({ foo: { bar: 1 } }), ours: 'accept', theirs: 'accept' },
  // the body
  { name: 'body not JSON', reply: { body: 'access_token=at-1&token_type=Bearer' }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'body not JSON, served as text/plain', reply: { body: '<html>', contentType: 'text/plain' }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'body empty', reply: { body: '' }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'body a JSON array', reply: { body: [TOKENS] }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'body JSON null', reply: { body: 'null' }, ours: 'invalid_response', theirs: 'reject' },
  // oauth4webapi looks at the content type only when the body does not parse as JSON.
  { name: 'a JSON body without a content type', reply: { ...tokens(), contentType: null }, ours: 'accept', theirs: 'accept' },
  { name: 'a JSON body served as text/plain', reply: { ...tokens(), contentType: 'text/plain' }, ours: 'accept', theirs: 'accept' },
  { name: 'a JSON body with application/json; charset=utf-8', reply: { ...tokens(), contentType: 'application/json; charset=utf-8' }, ours: 'accept', theirs: 'accept' },
  // HTTP status
  { name: 'HTTP 400 invalid_grant', reply: { status: 400, body: { error: 'invalid_grant' } }, ours: 'token_error', opError: 'invalid_grant', theirs: 'reject' },
  {
    name: 'HTTP 400 invalid_grant with a description',
    reply: { status: 400, body: { error: 'invalid_grant', error_description: 'code expired' } },
    ours: 'token_error',
    opError: 'invalid_grant',
    opErrorDescription: 'code expired',
    theirs: 'reject',
  },
  {
    // Same verdict; oauth4webapi reports it as "not JSON" rather than as the OP's error (intended:
    // ours does not require application/json).
    name: 'HTTP 400 invalid_grant served as text/plain',
    reply: { status: 400, body: { error: 'invalid_grant' }, contentType: 'text/plain' },
    ours: 'token_error',
    opError: 'invalid_grant',
    theirs: 'reject',
  },
  { name: 'HTTP 400 use_dpop_nonce with a DPoP-Nonce header', reply: { status: 400, body: { error: 'use_dpop_nonce' }, headers: { 'dpop-nonce': 'n1' } }, ours: 'token_error', opError: 'use_dpop_nonce', theirs: 'reject' },
  { name: 'HTTP 400 without an error member', reply: { status: 400, body: { message: 'bad' } }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'HTTP 400 with an empty error', reply: { status: 400, body: { error: '' } }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'HTTP 400 not JSON', reply: { status: 400, body: 'Bad Request', contentType: 'text/plain' }, ours: 'invalid_response', theirs: 'reject' },
  {
    // oauth4webapi throws a WWWAuthenticateChallengeError before reading the body.
    name: 'HTTP 401 invalid_client with WWW-Authenticate',
    reply: { status: 401, body: { error: 'invalid_client' }, headers: { 'www-authenticate': 'Basic realm="op"' } },
    ours: 'token_error',
    opError: 'invalid_client',
    theirs: 'reject',
  },
  { name: 'HTTP 500', reply: { status: 500, body: 'oops', contentType: 'text/plain' }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'HTTP 500 with an OAuth error body (only a 4xx carries one)', reply: { status: 500, body: { error: 'server_error' } }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'HTTP 302', reply: { status: 302, headers: { location: 'https://op.example/login' } }, ours: 'invalid_response', theirs: 'reject' },
  { name: 'HTTP 201 with a valid body', reply: { ...tokens(), status: 201 }, ours: 'invalid_response', theirs: 'reject' },
]

async function runTokenCase(c: TokenCase, kind: 'code' | 'refresh'): Promise<void> {
  const as = { ...AS, ...c.as }
  const ourOutcome = await settle(() =>
    kind === 'code' ? grant(as, ourClient(() => respond(c.reply)), CODE_GRANT, { nonce: NONCE }) : grant(as, ourClient(() => respond(c.reply)), REFRESH_GRANT, {}),
  )
  const theirOutcome = await settle(() =>
    kind === 'code'
      ? oauth.processAuthorizationCodeResponse(theirAs(as), THEIR_CLIENT, respond(c.reply), { expectedNonce: NONCE, requireIdToken: true })
      : oauth.processRefreshTokenResponse(theirAs(as), THEIR_CLIENT, respond(c.reply)),
  )
  expect({ ours: ourVerdict(ourOutcome), theirs: theirVerdict(theirOutcome) }).toEqual({ ours: c.ours, theirs: c.theirs })

  if (ourOutcome.ok && theirOutcome.ok) {
    // Accepted by both: the same tokens, the same normalized token_type and expires_in, the same claims.
    expect(normalizedOurs(ourOutcome.value)).toEqual(normalizedTheirs(theirOutcome.value))
  }
  if (!ourOutcome.ok && c.ours === 'token_error') {
    const error = ourOutcome.error as StepUpError
    expect(error.opError).toBe(c.opError)
    expect(error.opErrorDescription).toBe(c.opErrorDescription)
    expect(error.cause).toBeInstanceOf(Response)
    expect((error.cause as Response).status).toBe(c.reply.status)
  }
}

describe('token response to a code exchange: grant() vs processAuthorizationCodeResponse()', () => {
  const cases: TokenCase[] = [
    ...idTokenCases,
    { name: 'nonce wrong', reply: claims({ nonce: 'other' }), ours: 'invalid_response', theirs: 'reject' },
    { name: 'nonce missing', reply: claims({ nonce: undefined }), ours: 'invalid_response', theirs: 'reject' },
    { name: 'nonce a number', reply: claims({ nonce: 1 }), ours: 'invalid_response', theirs: 'reject' },
    { name: 'id_token missing (required with a nonce)', reply: tokens({ id_token: undefined }), ours: 'invalid_response', theirs: 'reject' },
  ]
  checkTable(cases)
  it.each(cases)('$name: ours $ours, oauth4webapi $theirs', (c) => runTokenCase(c, 'code'))

  it('has a standard-base64 fixture that really uses "+", "/" and padding', () => {
    expect(STANDARD_BASE64).toMatch(/\+/)
    expect(STANDARD_BASE64).toMatch(/\//)
    expect(STANDARD_BASE64).toMatch(/=\./)
  })

  it("reports the OP's error the way oauth4webapi did (its ResponseBodyError) on a 400", async () => {
    const reply: Reply = { status: 400, body: { error: 'invalid_grant', error_description: 'code expired' } }
    const ours = await settle(() => grant(AS, ourClient(() => respond(reply)), CODE_GRANT, { nonce: NONCE }))
    const theirs = await settle(() => oauth.processAuthorizationCodeResponse(theirAs(AS), THEIR_CLIENT, respond(reply), { expectedNonce: NONCE, requireIdToken: true }))
    expect(ours.ok || theirs.ok).toBe(false)
    const our = (ours as { error: StepUpError }).error
    const their = (theirs as { error: oauth.ResponseBodyError }).error
    expect(their).toBeInstanceOf(oauth.ResponseBodyError)
    expect({ code: our.code, error: our.opError, description: our.opErrorDescription }).toEqual({ code: 'token_error', error: their.error, description: their.error_description })
  })
})

describe('token response to a refresh: grant() vs processRefreshTokenResponse()', () => {
  const cases: TokenCase[] = [
    ...idTokenCases,
    { name: 'id_token missing (optional on a refresh)', reply: tokens({ id_token: undefined }), ours: 'accept', theirs: 'accept' },
    { name: 'id_token missing, with a new refresh_token', reply: tokens({ id_token: undefined, refresh_token: 'rt-2' }), ours: 'accept', theirs: 'accept' },
    { name: 'nonce wrong (not checked on a refresh)', reply: claims({ nonce: 'other' }), ours: 'accept', theirs: 'accept' },
    { name: 'nonce missing (not checked on a refresh)', reply: claims({ nonce: undefined }), ours: 'accept', theirs: 'accept' },
  ]
  checkTable(cases)
  it.each(cases)('$name: ours $ours, oauth4webapi $theirs', (c) => runTokenCase(c, 'refresh'))
})

// ---------------------------------------------------------------------------------------------
// The token request itself: the same request on the wire as oauth4webapi's with None() auth.

describe('token request: grant() vs authorizationCodeGrantRequest() / refreshTokenGrantRequest()', () => {
  const shape = ({ url, init }: Sent) => {
    const headers = new Headers(init.headers)
    return {
      url,
      method: init.method,
      redirect: init.redirect,
      accept: headers.get('accept'),
      contentType: headers.get('content-type'),
      body: [...new URLSearchParams(init.body as URLSearchParams).entries()].sort(([a], [b]) => a.localeCompare(b)),
    }
  }
  const theirFetch = (sent: Sent[]) => async (url: string, init: RequestInit) => (sent.push({ url, init }), respond(tokens()))

  it('sends the same code exchange', async () => {
    const ours: Sent[] = []
    const theirs: Sent[] = []
    await grant(AS, ourClient(() => respond(tokens()), ours), CODE_GRANT, { nonce: NONCE })
    const params = oauth.validateAuthResponse(theirAs(AS), THEIR_CLIENT, new URLSearchParams({ code: 'c', state: STATE }), STATE)
    await oauth.authorizationCodeGrantRequest(theirAs(AS), THEIR_CLIENT, oauth.None(), params, REDIRECT_URI, 'v', { [oauth.customFetch]: theirFetch(theirs) })
    expect(ours).toHaveLength(1)
    expect(shape(ours[0]!)).toEqual(shape(theirs[0]!))
    expect(shape(ours[0]!).body).toContainEqual(['client_id', CLIENT_ID])
  })

  it('sends the same refresh', async () => {
    const ours: Sent[] = []
    const theirs: Sent[] = []
    await grant(AS, ourClient(() => respond(tokens()), ours), REFRESH_GRANT, {})
    await oauth.refreshTokenGrantRequest(theirAs(AS), THEIR_CLIENT, oauth.None(), 'r', { [oauth.customFetch]: theirFetch(theirs) })
    expect(ours).toHaveLength(1)
    expect(shape(ours[0]!)).toEqual(shape(theirs[0]!))
  })
})

// ---------------------------------------------------------------------------------------------
// 3. Authorization responses

interface CallbackCase extends Verdicts {
  query: string
  as?: Partial<Metadata>
  opError?: string
  opErrorDescription?: string
}

describe('authorization response: codeFrom() vs validateAuthResponse() + authorizationCodeGrantRequest()', () => {
  // oauth4webapi reads the code (once, non-empty) in authorizationCodeGrantRequest, so its verdict
  // is that of both calls, up to the fetch. Both sides get the correct state: ours checks it in
  // redeemCallback before codeFrom.
  const ISS = `iss=${encodeURIComponent(ISSUER)}`
  const OK = `code=c&state=${STATE}`
  const SUPPORTED = { authorization_response_iss_parameter_supported: true }
  const cases: CallbackCase[] = [
    { name: 'code, state and iss', query: `${OK}&${ISS}`, ours: 'accept', theirs: 'accept' },
    { name: 'code, state and iss, iss supported', query: `${OK}&${ISS}`, as: SUPPORTED, ours: 'accept', theirs: 'accept' },
    { name: 'iss missing, not announced', query: OK, ours: 'accept', theirs: 'accept' },
    { name: 'iss missing, authorization_response_iss_parameter_supported: true', query: OK, as: SUPPORTED, ours: 'invalid_response', theirs: 'reject' },
    { name: 'iss missing, authorization_response_iss_parameter_supported: false', query: OK, as: { authorization_response_iss_parameter_supported: false }, ours: 'accept', theirs: 'accept' },
    { name: 'iss wrong', query: `${OK}&iss=https%3A%2F%2Fevil.example`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'iss wrong, iss supported', query: `${OK}&iss=https%3A%2F%2Fevil.example`, as: SUPPORTED, ours: 'invalid_response', theirs: 'reject' },
    { name: 'iss with a trailing slash (compared as a string)', query: `${OK}&iss=${encodeURIComponent(`${ISSUER}/`)}`, ours: 'invalid_response', theirs: 'reject' },
    {
      name: 'iss empty, not announced',
      query: `${OK}&iss=`,
      ours: 'invalid_response',
      theirs: 'accept',
      why: 'stricter on purpose: oauth4webapi treats an empty iss as absent (`!iss`); ours compares any iss present with the issuer (an empty one is not our OP)',
    },
    { name: 'iss empty, iss supported', query: `${OK}&iss=`, as: SUPPORTED, ours: 'invalid_response', theirs: 'reject' },
    { name: 'iss twice', query: `${OK}&${ISS}&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'error=access_denied', query: `error=access_denied&state=${STATE}&${ISS}`, ours: 'authorization_error', opError: 'access_denied', theirs: 'reject' },
    {
      name: 'error=access_denied with a description',
      query: `error=access_denied&error_description=no+thanks&state=${STATE}&${ISS}`,
      ours: 'authorization_error',
      opError: 'access_denied',
      opErrorDescription: 'no thanks',
      theirs: 'reject',
    },
    { name: 'error=access_denied with a code', query: `${OK}&error=access_denied&${ISS}`, ours: 'authorization_error', opError: 'access_denied', theirs: 'reject' },
    { name: 'error from another issuer (iss is checked first)', query: `error=access_denied&state=${STATE}&iss=https%3A%2F%2Fevil.example`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'error twice', query: `error=access_denied&error=login_required&state=${STATE}&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    {
      // Same verdict; oauth4webapi reports the OP's error (AuthorizationResponseError), ours the malformed callback.
      name: 'error_description twice',
      query: `error=access_denied&error_description=a&error_description=b&state=${STATE}&${ISS}`,
      ours: 'invalid_response',
      theirs: 'reject',
    },
    { name: 'error empty (ignored by both)', query: `${OK}&error=&${ISS}`, ours: 'accept', theirs: 'accept' },
    { name: 'code twice', query: `${OK}&code=d&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'code missing', query: `state=${STATE}&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'code empty', query: `code=&state=${STATE}&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'response (JARM) present', query: `${OK}&response=eyJ.eyJ.sig&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    {
      name: 'response present but empty',
      query: `${OK}&response=&${ISS}`,
      ours: 'invalid_response',
      theirs: 'accept',
      why: 'stricter on purpose: oauth4webapi only refuses a non-empty "response" (truthiness); ours refuses the parameter whenever present',
    },
    { name: 'id_token present (hybrid)', query: `${OK}&id_token=${idToken()}&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'id_token present but empty', query: `${OK}&id_token=&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'token present (implicit)', query: `${OK}&token=at&${ISS}`, ours: 'invalid_response', theirs: 'reject' },
    { name: 'unknown parameters', query: `${OK}&session_state=xyz&${ISS}`, ours: 'accept', theirs: 'accept' },
    {
      name: 'state twice, the first one correct',
      query: `${OK}&state=forged&${ISS}`,
      ours: 'invalid_response',
      theirs: 'reject',
    },
  ]
  checkTable(cases)

  const onError = (error: string, description: string | undefined): StepUpError =>
    new StepUpError('authorization_error', `the OP answered ${error}`, { opError: error, opErrorDescription: description })

  it.each(cases)('$name: ours $ours, oauth4webapi $theirs', async (c) => {
    const as = { ...AS, ...c.as }
    const ours = await settle(() => codeFrom(new URLSearchParams(c.query), as, onError))
    const sent: Sent[] = []
    const theirs = await settle(async () => {
      const params = oauth.validateAuthResponse(theirAs(as), THEIR_CLIENT, new URLSearchParams(c.query), STATE)
      const customFetch = async (url: string, init: RequestInit) => (sent.push({ url, init }), new Response('{}'))
      await oauth.authorizationCodeGrantRequest(theirAs(as), THEIR_CLIENT, oauth.None(), params, REDIRECT_URI, 'v', { [oauth.customFetch]: customFetch })
      return new URLSearchParams(sent[0]!.init.body as URLSearchParams).get('code')
    })
    expect({ ours: ourVerdict(ours), theirs: theirVerdict(theirs) }).toEqual({ ours: c.ours, theirs: c.theirs })
    if (ours.ok && theirs.ok) expect(ours.value).toBe(theirs.value)
    if (!ours.ok && c.ours === 'authorization_error') {
      expect((ours.error as StepUpError).opError).toBe(c.opError)
      expect((ours.error as StepUpError).opErrorDescription).toBe(c.opErrorDescription)
      expect((theirs as { error: unknown }).error).toBeInstanceOf(oauth.AuthorizationResponseError)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// 4. Discovery

interface DiscoveryCase extends Verdicts {
  issuer: string
  reply: Reply
}

describe('discovery: discover() vs processDiscoveryResponse()', () => {
  const metadata = (changes: Record<string, unknown> = {}): Reply => ({ body: { ...AS, jwks_uri: `${ISSUER}/jwks`, ...changes } })
  const endpoints = 'intended: ours checks the endpoints are https: URLs at discovery; oauth4webapi checks them when it uses them'
  const cases: DiscoveryCase[] = [
    { name: 'issuer equal', issuer: ISSUER, reply: metadata(), ours: 'accept', theirs: 'accept' },
    { name: 'configured without a trailing slash, metadata with one', issuer: ISSUER, reply: metadata({ issuer: `${ISSUER}/` }), ours: 'accept', theirs: 'accept' },
    { name: 'configured with a trailing slash, metadata without one', issuer: `${ISSUER}/`, reply: metadata(), ours: 'accept', theirs: 'accept' },
    { name: 'host in another case (URLs compared normalized)', issuer: ISSUER, reply: metadata({ issuer: 'https://OP.example' }), ours: 'accept', theirs: 'accept' },
    { name: 'path issuer equal', issuer: `${ISSUER}/tenant`, reply: metadata({ issuer: `${ISSUER}/tenant` }), ours: 'accept', theirs: 'accept' },
    { name: 'path issuer, metadata with a trailing slash', issuer: `${ISSUER}/tenant`, reply: metadata({ issuer: `${ISSUER}/tenant/` }), ours: 'TypeError', theirs: 'reject' },
    { name: 'path issuer, configured with a trailing slash', issuer: `${ISSUER}/tenant/`, reply: metadata({ issuer: `${ISSUER}/tenant` }), ours: 'TypeError', theirs: 'reject' },
    { name: 'issuer wrong', issuer: ISSUER, reply: metadata({ issuer: 'https://evil.example' }), ours: 'TypeError', theirs: 'reject' },
    { name: 'issuer missing', issuer: ISSUER, reply: metadata({ issuer: undefined }), ours: 'TypeError', theirs: 'reject' },
    { name: 'issuer empty', issuer: ISSUER, reply: metadata({ issuer: '' }), ours: 'TypeError', theirs: 'reject' },
    { name: 'issuer not a URL', issuer: ISSUER, reply: metadata({ issuer: 'op.example' }), ours: 'TypeError', theirs: 'reject' },
    { name: 'HTTP 404', issuer: ISSUER, reply: { status: 404, body: 'Not Found', contentType: 'text/plain' }, ours: 'TypeError', theirs: 'reject' },
    { name: 'HTTP 302', issuer: ISSUER, reply: { status: 302, headers: { location: `${ISSUER}/login` } }, ours: 'TypeError', theirs: 'reject' },
    { name: 'body not JSON', issuer: ISSUER, reply: { body: '<html>', contentType: 'text/html' }, ours: 'invalid_response', theirs: 'reject' },
    { name: 'body a JSON array', issuer: ISSUER, reply: { body: [AS] }, ours: 'invalid_response', theirs: 'reject' },
    { name: 'a JSON body without a content type', issuer: ISSUER, reply: { ...metadata(), contentType: null }, ours: 'accept', theirs: 'accept' },
    { name: 'authorization_endpoint missing', issuer: ISSUER, reply: metadata({ authorization_endpoint: undefined }), ours: 'TypeError', theirs: 'accept', why: endpoints },
    { name: 'token_endpoint missing', issuer: ISSUER, reply: metadata({ token_endpoint: undefined }), ours: 'TypeError', theirs: 'accept', why: endpoints },
    { name: 'token_endpoint http:', issuer: ISSUER, reply: metadata({ token_endpoint: 'http://op.example/token' }), ours: 'TypeError', theirs: 'accept', why: endpoints },
    { name: 'authorization_endpoint not a URL', issuer: ISSUER, reply: metadata({ authorization_endpoint: '/auth' }), ours: 'TypeError', theirs: 'accept', why: endpoints },
  ]
  checkTable(cases)

  it.each(cases)('$name: ours $ours, oauth4webapi $theirs', async (c) => {
    const ours = await settle(() => discover(new URL(c.issuer), ourClient(() => respond(c.reply))))
    const theirs = await settle(() => oauth.processDiscoveryResponse(new URL(c.issuer), respond(c.reply)))
    expect({ ours: ourVerdict(ours), theirs: theirVerdict(theirs) }).toEqual({ ours: c.ours, theirs: c.theirs })
    if (ours.ok && theirs.ok) expect(ours.value).toEqual(theirs.value)
  })

  it.each([ISSUER, `${ISSUER}/`, `${ISSUER}/tenant`, `${ISSUER}/tenant/`])('fetches the same well-known URL for %s', async (issuer) => {
    const ours: Sent[] = []
    const theirs: string[] = []
    await discover(new URL(issuer), ourClient(() => respond(metadata({ issuer })), ours))
    await oauth.discoveryRequest(new URL(issuer), { [oauth.customFetch]: async (url: string) => (theirs.push(url), respond(metadata({ issuer }))) })
    expect(ours.map((s) => s.url)).toEqual(theirs)
    expect(theirs).toHaveLength(1)
  })
})

// ---------------------------------------------------------------------------------------------
// 5. PKCE and random values

describe('discovery for a loopback http: issuer (development)', () => {
  const LOCAL = 'http://127.0.0.1:4000'
  const local = (changes: Record<string, unknown>): Response =>
    respond({ body: { issuer: LOCAL, authorization_endpoint: `${LOCAL}/auth`, token_endpoint: `${LOCAL}/token`, ...changes } })
  const insecure = (reply: () => Response): OAuthClient => ({ ...ourClient(reply), insecure: true })

  it('takes http: endpoints on loopback hosts', async () => {
    await expect(discover(new URL(LOCAL), insecure(() => local({})))).resolves.toMatchObject({ issuer: LOCAL })
    await expect(discover(new URL(LOCAL), insecure(() => local({ token_endpoint: 'http://localhost:4000/token' })))).resolves.toMatchObject({ issuer: LOCAL })
  })

  it('refuses an http: endpoint on any other host (its token request would go out in the clear)', async () => {
    await expect(discover(new URL(LOCAL), insecure(() => local({ token_endpoint: 'http://evil.example/token' })))).rejects.toThrow(TypeError)
    await expect(discover(new URL(LOCAL), insecure(() => local({ authorization_endpoint: 'http://evil.example/auth' })))).rejects.toThrow(TypeError)
  })
})

describe('PKCE: pkceChallenge() vs calculatePKCECodeChallenge()', () => {
  it('matches RFC 7636 Appendix B', async () => {
    // The RFC's code_challenge for its example verifier (and what node:crypto computes).
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(challenge)
    expect(await pkceChallenge(verifier)).toBe(challenge)
    expect(await oauth.calculatePKCECodeChallenge(verifier)).toBe(challenge)
  })

  it.each([
    'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    'a'.repeat(43),
    '~'.repeat(128),
    '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-._~',
  ])('agrees for %s', async (verifier) => {
    expect(await pkceChallenge(verifier)).toBe(await oauth.calculatePKCECodeChallenge(verifier))
  })

  it('agrees for a verifier of either library', async () => {
    for (const verifier of [randomToken(), oauth.generateRandomCodeVerifier()]) {
      expect(await pkceChallenge(verifier)).toBe(await oauth.calculatePKCECodeChallenge(verifier))
    }
  })
})

describe('randomToken() vs generateRandomCodeVerifier()', () => {
  it('is 43 base64url characters (32 bytes), like oauth4webapi, and distinct across calls', () => {
    const tokens = Array.from({ length: 64 }, () => randomToken())
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(new Set(tokens).size).toBe(tokens.length)
    expect(oauth.generateRandomCodeVerifier()).toHaveLength(tokens[0]!.length)
    expect(Buffer.from(tokens[0]!, 'base64url')).toHaveLength(32)
  })
})
