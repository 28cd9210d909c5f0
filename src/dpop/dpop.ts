// Loaded by the core with a dynamic import() only when `dpop: true` (docs/decisions/0004-dpop.md):
// apps without DPoP never download it.
import * as oauth from 'oauth4webapi'
import { StepUpError } from '../errors/step-up-error.js'
import { deleteKey, loadOrCreateKey } from './key-store.js'

/** Runs one token request (code exchange or refresh) with the given extra options, and processes its response. */
export type GrantRun = (options: { DPoP: oauth.DPoPHandle }) => Promise<oauth.TokenEndpointResponse>

/** A client's DPoP state: its key, and oauth4webapi's handle, which caches nonces per origin. */
export interface DpopClient {
  /** The key's JWK thumbprint: the `cnf.jkt` of every token bound to it. */
  readonly jkt: string
  /** The key pair (the private half non-extractable). */
  readonly keyPair: CryptoKeyPair
  /**
   * A token request bound to the key: one retry when the OP answers `use_dpop_nonce` (the
   * handle has cached its nonce by then), and a refusal of any token that is not DPoP-bound.
   * @throws {StepUpError} `invalid_response` when the OP answers with a Bearer token.
   */
  grant(run: GrantRun): Promise<oauth.TokenEndpointResponse>
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
 * Load the client's DPoP key from IndexedDB, or create it (see {@link loadOrCreateKey}).
 *
 * @param client The oauth4webapi client (its clock tolerance also skews the proofs' `iat`).
 * @param id Which client the key belongs to (issuer and client id).
 */
export async function openDpop(client: oauth.Client, id: string): Promise<DpopClient> {
  const { keyPair, jkt } = await loadOrCreateKey(id, client)
  const handle = oauth.DPoP(client, keyPair)
  const dpop = { DPoP: handle }

  const grant = async (run: GrantRun): Promise<oauth.TokenEndpointResponse> => {
    let result: oauth.TokenEndpointResponse
    try {
      result = await run(dpop)
    } catch (error) {
      // RFC 9449 §8: the OP wants a nonce; its DPoP-Nonce header is cached in the handle now.
      if (!oauth.isDPoPNonceError(error)) throw error
      result = await run(dpop)
    }
    // oauth4webapi lower-cases token_type. A Bearer token where DPoP was asked for would go out
    // unbound: refuse it rather than silently downgrade the app's choice.
    if (result.token_type !== 'dpop') {
      throw new StepUpError(
        'invalid_response',
        `the OP answered a DPoP token request with token_type ${JSON.stringify(result.token_type)}: enable DPoP for client ${JSON.stringify(client.client_id)} at the OP, or set dpop: false`,
      )
    }
    return result
  }

  const sendOnce = async (request: Request, accessToken: string, send: (request: Request) => Promise<Response>): Promise<[Response, boolean]> => {
    try {
      // oauth4webapi builds the proof (htm, htu without query and fragment, iat, jti, ath, and
      // the nonce it holds for this origin) and reads DPoP-Nonce from every response. Its fetch is
      // ours: the app's own request goes out, with its body, redirect mode and signal, and only
      // the two headers oauth4webapi prepared.
      const response = await oauth.protectedResourceRequest(accessToken, request.method, new URL(request.url), undefined, null, {
        ...dpop,
        // `protect` decides where tokens go; http: is the app's choice there, as with Bearer.
        [oauth.allowInsecureRequests]: true,
        [oauth.customFetch]: (_url: string, init: { headers: Record<string, string> }) => {
          request.headers.set('authorization', init.headers['authorization']!)
          request.headers.set('dpop', init.headers['dpop']!)
          return send(request)
        },
      })
      return [response, false]
    } catch (error) {
      // Any response with WWW-Authenticate lands here; the core reads the challenges itself.
      if (error instanceof oauth.WWWAuthenticateChallengeError) return [error.response, oauth.isDPoPNonceError(error)]
      throw error
    }
  }

  const send: DpopClient['send'] = async (request, accessToken, transport) => {
    // The nonce retry replays the body, so keep a copy (a tee) while it may be needed.
    const spare = request.body ? request.clone() : undefined
    const [response, wantsNonce] = await sendOnce(request, accessToken, transport)
    if (!wantsNonce) {
      void spare?.body?.cancel().catch(() => {})
      return response
    }
    // RFC 9449 §9: retry once with the nonce. A second use_dpop_nonce goes back to the app.
    void response.body?.cancel().catch(() => {})
    return (await sendOnce(spare ?? new Request(request), accessToken, transport))[0]
  }

  return { jkt, keyPair, grant, send, forget: () => deleteKey(id, jkt) }
}
