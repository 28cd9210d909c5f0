import { base64ToBytes, bytesToBase64 } from '../utils/base64.js'
import { readAtMost } from '../utils/read-at-most.js'

/** The most a redirect step-up saves of an interrupted request's body (DESIGN.md). */
export const MAX_SAVED_BODY = 1024 * 1024

/** An interrupted request, saved across a redirect step-up (sessionStorage). */
export interface SavedRequest {
  method: string
  url: string
  /** Without Authorization and DPoP: the replay gets the new token (and a new proof). */
  headers: Array<[string, string]>
  /** base64 of the body bytes, when there was a body. */
  body?: string
}

/** Why an interrupted request could not be saved for `resume()`. */
export type UnsavedReason = 'stream_body' | 'file_body' | 'body_too_large'

/**
 * Serialise a request (a spare clone, never the one sent) for replay after a page load.
 * Text, URLSearchParams, JSON and binary bodies up to 1 MiB are kept; streams and FormData
 * with files are not, because they cannot be reproduced faithfully or cheaply.
 */
export async function saveRequest(request: Request, originalBody: unknown): Promise<SavedRequest | UnsavedReason> {
  if (typeof ReadableStream !== 'undefined' && originalBody instanceof ReadableStream) return 'stream_body'
  if (typeof FormData !== 'undefined' && originalBody instanceof FormData && [...originalBody.values()].some((value) => typeof value !== 'string')) {
    return 'file_body'
  }
  const saved: SavedRequest = {
    method: request.method,
    url: request.url,
    headers: [...request.headers].filter(([name]) => name !== 'authorization' && name !== 'dpop'),
  }
  if (request.body) {
    const bytes = await readAtMost(request.body, MAX_SAVED_BODY)
    if (!bytes) return 'body_too_large'
    saved.body = bytesToBase64(bytes)
  }
  return saved
}

/** Rebuild a saved request. */
export function restoreRequest(saved: SavedRequest): Request {
  const init: RequestInit = { method: saved.method, headers: saved.headers }
  if (saved.body !== undefined) init.body = base64ToBytes(saved.body)
  return new Request(saved.url, init)
}
