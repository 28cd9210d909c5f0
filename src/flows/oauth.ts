// The OAuth 2.0 / OpenID Connect client steps a step-up needs, and nothing else: discovery,
// PKCE, the authorization response (RFC 9207), the token request and the token response with
// its ID token claims (OIDC Core §3.1.3.7). It replaced oauth4webapi in the bundle (issue 5,
// docs/decisions/0006-own-oauth-client.md): the same checks, in about a fifth of the bytes. Its tests
// run every case through oauth4webapi too and expect the same verdict
// (test/core/oauth-conformance.test.ts).
import { StepUpError } from '../errors/step-up-error.js'
import { isLoopbackHttp } from '../utils/assert.js'
import { b64u, base64ToBytes } from '../utils/base64.js'

/** The OP metadata the SDK uses (OpenID Connect Discovery 1.0 §3). */
export interface Metadata {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  acr_values_supported?: unknown
  authorization_response_iss_parameter_supported?: unknown
  id_token_signing_alg_values_supported?: unknown
}

/** A validated token response; `claims` are the ID token's, when it had one. */
export interface TokenResult {
  access_token: string
  /** Lower-cased: `'bearer'` or `'dpop'`. */
  token_type: string
  expires_in?: number
  refresh_token?: string
  id_token?: string
  claims?: Record<string, unknown>
}

/** How the SDK talks to the OP: its fetch, whether `http:` is allowed (loopback issuers), the clock. */
export interface OAuthClient {
  clientId: string
  fetch: (url: string, init: RequestInit) => Promise<Response>
  insecure: boolean
  /** Seconds of clock skew allowed on `exp`, `nbf` (and by the caller on `auth_time`). */
  clockTolerance: number
}

type Json = Record<string, unknown>

const invalid = (what: string, cause?: unknown): StepUpError => new StepUpError('invalid_response', `the OP sent ${what}; check the OP`, { cause })

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value !== ''

async function readJson(response: Response, what: string): Promise<Json> {
  let json: unknown
  try {
    json = await response.json()
  } catch (cause) {
    throw invalid(`${what} that is not JSON`, cause)
  }
  if (!isObject(json)) throw invalid(`${what} that is not a JSON object`)
  return json
}

const toUrl = (value: unknown): URL | undefined => {
  try {
    return new URL(value as string)
  } catch {
    return undefined
  }
}

/** `url` when it is https: (or, for a loopback issuer, http: on loopback). */
function endpoint(value: unknown, client: OAuthClient): string {
  const url = toUrl(value)
  if (!url || (url.protocol !== 'https:' && !(client.insecure && isLoopbackHttp(url)))) throw new TypeError(`${JSON.stringify(value)} is not an https: URL`)
  return url.href
}

/**
 * Fetch and check the OP's metadata: its `issuer` must be the one configured (OpenID Connect
 * Discovery §4.3), and its endpoints https: URLs.
 */
export async function discover(issuer: URL, client: OAuthClient): Promise<Metadata> {
  const url = new URL(issuer.href)
  url.pathname = `${url.pathname}/.well-known/openid-configuration`.replace('//', '/')
  const response = await client.fetch(url.href, { headers: { accept: 'application/json' }, redirect: 'manual' })
  if (response.status !== 200) throw new TypeError(`HTTP ${response.status} from ${url.href}`)
  const as = await readJson(response, 'metadata')
  if (!nonEmpty(as['issuer']) || toUrl(as['issuer'])?.href !== issuer.href) {
    throw new TypeError(`its issuer is ${JSON.stringify(as['issuer'])}`)
  }
  endpoint(as['authorization_endpoint'], client)
  endpoint(as['token_endpoint'], client)
  return as as unknown as Metadata
}

/** 32 random bytes, base64url: a state, a nonce, a PKCE code verifier. */
export const randomToken = (): string => b64u(crypto.getRandomValues(new Uint8Array(32)))

/** The S256 PKCE code challenge of a verifier (RFC 7636 §4.2). */
export const pkceChallenge = async (verifier: string): Promise<string> =>
  b64u(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))

/**
 * The authorization code from a callback whose `state` the caller has checked. An `iss` that is
 * not the OP's (RFC 9207) is refused before the OP's own `error` is believed.
 *
 * @throws {StepUpError} `invalid_response`; or what `onError` makes of the OP's `error`.
 */
export function codeFrom(params: URLSearchParams, as: Metadata, onError: (error: string, description: string | undefined) => StepUpError): string {
  const one = (name: string): string | undefined => {
    const values = params.getAll(name)
    if (values.length > 1) throw invalid(`a callback with ${values.length} "${name}" parameters`)
    return values[0]
  }
  one('state') // compared by the caller; twice is a forgery
  const iss = one('iss')
  if (iss === undefined ? as.authorization_response_iss_parameter_supported : iss !== as.issuer) {
    throw invalid(iss === undefined ? 'a callback without "iss"' : `a callback from issuer ${JSON.stringify(iss)} (a mix-up attack?)`)
  }
  const error = one('error')
  if (error) throw onError(error, one('error_description'))
  if (one('response') !== undefined || one('id_token') !== undefined || one('token') !== undefined) throw invalid('a callback of another response mode')
  const code = one('code')
  if (!code) throw invalid('a callback without "code"')
  return code
}

/**
 * POST a grant to the token endpoint, as a public client, and validate the answer. `nonce` is
 * the authorization request's (a code exchange) and makes the ID token required; without it (a
 * refresh) an ID token is optional and checked when present.
 *
 * @throws {StepUpError} `token_error` with `opError` for the OP's OAuth error (its `cause` is the
 *   Response, e.g. for a DPoP-Nonce header); `invalid_response` for anything malformed. A failed
 *   fetch rejects with its own error.
 */
export async function grant(
  as: Metadata,
  client: OAuthClient,
  params: Record<string, string>,
  options: { headers?: Record<string, string> | undefined; signal?: AbortSignal | undefined; nonce?: string | undefined },
): Promise<TokenResult> {
  const response = await client.fetch(endpoint(as.token_endpoint, client), {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', ...options.headers },
    body: new URLSearchParams({ ...params, client_id: client.clientId }),
    redirect: 'manual',
    ...(options.signal ? { signal: options.signal } : {}),
  })
  if (response.status !== 200) {
    // RFC 6749 §5.2: a 4xx with a JSON body that names the error.
    const body: unknown = response.status > 399 && response.status < 500 ? await response.clone().json().catch(() => undefined) : undefined
    const { error, error_description: description } = isObject(body) ? body : {}
    if (!nonEmpty(error)) throw invalid(`HTTP ${response.status} from its token endpoint`)
    throw new StepUpError('token_error', `the token endpoint answered "${error}"${typeof description === 'string' && description ? `: ${description}` : ''}`, { cause: response, opError: error, opErrorDescription: typeof description === 'string' ? description : undefined })
  }
  const json = await readJson(response, 'a token response')
  const { access_token, token_type, refresh_token, scope, id_token } = json
  let expiresIn = json['expires_in']
  if (!nonEmpty(access_token)) throw invalid('a token response without "access_token"')
  if (!nonEmpty(token_type) || !/^(bearer|dpop)$/i.test(token_type)) throw invalid(`token_type ${JSON.stringify(token_type)}`)
  if (expiresIn !== undefined && typeof expiresIn !== 'number') expiresIn = parseFloat(String(expiresIn))
  if (expiresIn !== undefined && !((expiresIn as number) >= 0 && Number.isFinite(expiresIn))) throw invalid(`expires_in ${JSON.stringify(json['expires_in'])}`)
  if ((refresh_token !== undefined && !nonEmpty(refresh_token)) || (scope !== undefined && typeof scope !== 'string')) throw invalid('a malformed refresh_token or scope')
  const result: TokenResult = { access_token, token_type: token_type.toLowerCase() }
  if (expiresIn !== undefined) result.expires_in = expiresIn as number
  if (refresh_token !== undefined) result.refresh_token = refresh_token
  if (id_token !== undefined || options.nonce !== undefined) {
    if (!nonEmpty(id_token)) throw invalid('a token response without a valid "id_token"')
    result.id_token = id_token
    result.claims = idTokenClaims(id_token, as, client, options.nonce)
  }
  return result
}

/**
 * The claims of an ID token from the token endpoint (OIDC Core §3.1.3.7). Its signature is not
 * checked: it came straight from the OP over TLS (item 6 of that section), as oauth4webapi does.
 */
function idTokenClaims(jwt: string, as: Metadata, client: OAuthClient, nonce: string | undefined): Json {
  const parts = jwt.split('.')
  if (parts.length !== 3) throw invalid('an ID token that is not a signed JWT')
  let header: unknown, claims: unknown
  try {
    const decode = (part: string): unknown => JSON.parse(new TextDecoder().decode(base64ToBytes(part.replace(/-/g, '+').replace(/_/g, '/'))))
    header = decode(parts[0]!)
    claims = decode(parts[1]!)
  } catch (cause) {
    throw invalid('an ID token that does not decode', cause)
  }
  if (!isObject(header) || !isObject(claims)) throw invalid('an ID token that is not a JSON object')
  const algs = as.id_token_signing_alg_values_supported
  if (!(Array.isArray(algs) ? algs.includes(header['alg']) : header['alg'] === 'RS256') || header['crit'] !== undefined) {
    throw invalid(`an ID token signed with ${JSON.stringify(header['alg'])}`)
  }
  const now = Math.floor(Date.now() / 1000)
  const { exp, iat, nbf, iss, aud, azp, sub, auth_time } = claims
  const bad = (claim: string): StepUpError => invalid(`an ID token whose "${claim}" is wrong or missing`)
  if (typeof exp !== 'number' || exp <= now - client.clockTolerance) throw bad('exp')
  if (typeof iat !== 'number') throw bad('iat')
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + client.clockTolerance)) throw bad('nbf')
  if (iss !== as.issuer) throw bad('iss')
  if (Array.isArray(aud) ? !aud.includes(client.clientId) : aud !== client.clientId) throw bad('aud')
  // Several audiences: the token must say it was issued to us (§3.1.3.7 items 4 and 5).
  if ((Array.isArray(aud) && aud.length !== 1 && azp === undefined) || (azp !== undefined && azp !== client.clientId)) throw bad('azp')
  if (typeof sub !== 'string') throw bad('sub')
  if (auth_time !== undefined && !(typeof auth_time === 'number' && auth_time >= 0 && Number.isFinite(auth_time))) throw bad('auth_time')
  if (nonce !== undefined && claims['nonce'] !== nonce) throw bad('nonce')
  return claims
}
