// Loaded by the core with a dynamic import() only when `dpop: true` (docs/decisions/0004-dpop.md):
// apps without DPoP never download it. The proofs are made here on WebCrypto; the core's token
// requests (src/flows/oauth.ts) carry them as a header and accept the `DPoP` token_type.
import type { TokenResult } from '../flows/oauth.js'
import { messageOf, StepUpError } from '../errors/step-up-error.js'
import { b64u, publicJwk, sha256, signEs256 } from './jws.js'
import { deleteKey, loadOrCreateKey } from './key-store.js'

/**
 * The challenge parser's `hasChallengeError` (challenge/invalid-token.ts), lent by the client:
 * this chunk then shares no module with the first load but the error class (docs/decisions/0007-first-load.md).
 */
export type HasChallengeError = (value: string | null, error: string) => boolean

/** Runs one token request (code exchange or refresh) with these extra headers, and processes its response. */
export type GrantRun = (extra: { headers: Record<string, string> }) => Promise<TokenResult>

/** A client's DPoP state: its key, and the nonces servers gave it, per origin. */
export interface DpopClient {
  /** The key's JWK thumbprint: the `cnf.jkt` of every token bound to it. */
  readonly jkt: string
  /** The key pair (the private half non-extractable). */
  readonly keyPair: CryptoKeyPair
  /**
   * A token request to `endpoint` bound to the key: one retry when the OP answers
   * `use_dpop_nonce` (with the nonce it sent), and a refusal of any token that is not DPoP-bound.
   * @throws {StepUpError} `invalid_response` when the OP answers with a Bearer token.
   */
  grant(endpoint: string, run: GrantRun): Promise<TokenResult>
  /**
   * Send `request` with `Authorization: DPoP <accessToken>` and a fresh proof, through `send`.
   * A `use_dpop_nonce` answer is retried once with the nonce it brought; every other response,
   * a challenge included, is returned as the server sent it.
   */
  send(request: Request, accessToken: string, send: (request: Request) => Promise<Response>): Promise<Response>
  /** Delete the key from IndexedDB (logout); the next sign-in makes a new one. */
  forget(): Promise<void>
}

/**
 * The client's DPoP handle, opened after `after` (a logout's deletion of the previous key):
 * {@link openDpop}, with its failure as a `token_error` that says what DPoP needs. `opened`
 * sees the handle first (the client checks its tokens against the key).
 */
export async function openKey(id: string, after: Promise<void> | undefined, hasError: HasChallengeError, opened: (dpop: DpopClient) => void): Promise<DpopClient> {
  try {
    await after
    const dpop = await openDpop(id, hasError)
    opened(dpop)
    return dpop
  } catch (error) {
    throw new StepUpError('token_error', `DPoP could not be set up (${messageOf(error)}): it needs WebCrypto (a secure context)`, { cause: error })
  }
}

/**
 * Load the client's DPoP key from IndexedDB, or create it (see {@link loadOrCreateKey}).
 *
 * @param id Which client the key belongs to (issuer and client id).
 * @param hasError Whether a WWW-Authenticate value carries a challenge with that error (the nonce retry).
 */
export async function openDpop(id: string, hasError: HasChallengeError): Promise<DpopClient> {
  const { keyPair, jkt } = await loadOrCreateKey(id)
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: await publicJwk(keyPair.publicKey) }
  /**
   * The last nonce each server gave (RFC 9449 §8, §9), keyed by role and origin: the token
   * endpoint's never goes to an API, nor back, even on one origin.
   */
  const nonces = new Map<string, string>()
  const remember = (key: string, response: Response): void => {
    const nonce = response.headers.get('dpop-nonce')
    if (nonce) nonces.set(key, nonce)
  }

  /** A proof for one request: its method and URL (no query, no fragment), when, a unique id, the server's nonce, the token's hash. */
  const proof = async (htm: string, url: URL, nonceKey: string, accessToken?: string): Promise<string> =>
    signEs256(header, {
      iat: Math.floor(Date.now() / 1000),
      jti: b64u(crypto.getRandomValues(new Uint8Array(16))),
      htm,
      htu: url.origin + url.pathname,
      nonce: nonces.get(nonceKey),
      ath: accessToken && (await sha256(accessToken)),
    }, keyPair.privateKey)

  const grant: DpopClient['grant'] = async (endpoint, run) => {
    const url = new URL(endpoint)
    const key = `as ${url.origin}`
    const once = async (): Promise<TokenResult> => run({ headers: { dpop: await proof('POST', url, key) } })
    let result: TokenResult
    try {
      result = await once()
    } catch (error) {
      // RFC 9449 §8: the OP wants a nonce, sent in its DPoP-Nonce header. One retry with it.
      const response = (error as { opError?: unknown; cause?: unknown } | null)?.opError === 'use_dpop_nonce' ? (error as { cause: unknown }).cause : undefined
      if (!(response instanceof Response) || !response.headers.get('dpop-nonce')) throw error
      remember(key, response)
      result = await once()
    }
    // token_type comes lower-cased. A Bearer token where DPoP was asked for would go out
    // unbound: refuse it rather than silently downgrade the app's choice.
    if (result.token_type !== 'dpop') {
      throw new StepUpError(
        'invalid_response',
        `the OP answered a DPoP token request with token_type ${JSON.stringify(result.token_type)}: enable DPoP for this client at the OP, or set dpop: false`,
      )
    }
    return result
  }

  /** Send with a fresh proof; true with the response when its server asks for a nonce (and gave one). */
  const sendOnce = async (request: Request, accessToken: string, send: (request: Request) => Promise<Response>): Promise<[Response, boolean]> => {
    const url = new URL(request.url)
    const { origin } = url
    request.headers.set('authorization', `DPoP ${accessToken}`)
    request.headers.set('dpop', await proof(request.method, url, `rs ${origin}`, accessToken))
    const response = await send(request)
    // A response that a redirect brought from another origin is that server's business: its
    // nonce is not the API's, and its use_dpop_nonce is no reason to send the request again.
    if (response.redirected && response.url && new URL(response.url).origin !== origin) return [response, false]
    // RFC 9449 §9: a server may hand out its next nonce on any response, a 200 included.
    remember(`rs ${origin}`, response)
    return [response, response.status === 401 && !!response.headers.get('dpop-nonce') && hasError(response.headers.get('www-authenticate'), 'use_dpop_nonce')]
  }

  const send: DpopClient['send'] = async (request, accessToken, transport) => {
    // The nonce retry replays the body, so keep a copy (a tee) while it may be needed.
    const spare = request.body ? request.clone() : undefined
    const [response, wantsNonce] = await sendOnce(request, accessToken, transport)
    if (!wantsNonce) {
      void spare?.body?.cancel().catch(() => {})
      return response
    }
    // Retry once with the nonce. A second use_dpop_nonce goes back to the app. An aborted
    // request is never sent again: it rejects as fetch does, with the signal's reason.
    void response.body?.cancel().catch(() => {})
    if (request.signal.aborted) void spare?.body?.cancel().catch(() => {})
    request.signal.throwIfAborted()
    return (await sendOnce(spare ?? new Request(request), accessToken, transport))[0]
  }

  return { jkt, keyPair, grant, send, forget: () => deleteKey(id, jkt) }
}
