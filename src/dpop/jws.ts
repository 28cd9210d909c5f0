// The little JOSE that DPoP proofs need (RFC 7515 compact JWS with ES256, RFC 7638 thumbprints),
// on WebCrypto. Part of the DPoP chunk: apps without `dpop: true` never download it.
import { b64u } from '../utils/base64.js'

const utf8 = (value: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(value)

export { b64u }

const b64uJson = (value: unknown): string => b64u(utf8(JSON.stringify(value)))

/** base64url SHA-256 of a string: an access token's `ath`, a JWK's thumbprint. */
export const sha256 = async (value: string): Promise<string> => b64u(await crypto.subtle.digest('SHA-256', utf8(value)))

/** A new P-256 key pair for ES256; the private half is not extractable (the public half always is). */
export const generateKeyPair = (): Promise<CryptoKeyPair> =>
  crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>

/** The public key as the proof's `jwk` header: only the members RFC 7638 hashes, in its order. */
export async function publicJwk(publicKey: CryptoKey): Promise<{ crv: string; kty: string; x: string; y: string }> {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey)
  return { crv: crv!, kty: kty!, x: x!, y: y! }
}

/** The JWK SHA-256 thumbprint (RFC 7638): the `cnf.jkt` of tokens bound to the key. */
export const thumbprint = async (publicKey: CryptoKey): Promise<string> => sha256(JSON.stringify(await publicJwk(publicKey)))

/** A compact JWS signed with ES256 (WebCrypto's ECDSA signature is already JOSE's r‖s form). */
export async function signEs256(header: object, payload: object, privateKey: CryptoKey): Promise<string> {
  const input = `${b64uJson(header)}.${b64uJson(payload)}`
  return `${input}.${b64u(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, utf8(input)))}`
}
