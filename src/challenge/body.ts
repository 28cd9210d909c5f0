// Reading a challenged response's JSON body (RFC 9470 APIs that cannot expose WWW-Authenticate
// cross-origin send the challenge there). Loaded by read-step-up-challenge.ts on first use.
import { readAtMost } from '../utils/read-at-most.js'

/** `copy`'s body as JSON, read up to `max` bytes; `undefined` when larger, unreadable or not JSON. */
export async function readJson(copy: Response, max: number): Promise<unknown> {
  try {
    const body: unknown = copy.body
    if (body === null) return undefined
    let text: string
    if (isReadableStream(body)) {
      // Too large (or not bytes at all): cancelling one branch of the clone's tee leaves the caller's intact.
      const bytes = await readAtMost(body, max)
      if (!bytes) return undefined
      // Like Response.text(): UTF-8, BOM stripped, invalid bytes replaced.
      text = new TextDecoder().decode(bytes)
    } else {
      // A Response-like object without a stream: fall back to text() and check after.
      text = await copy.text()
      if (text.length > max) return undefined
    }
    return JSON.parse(text)
  } catch {
    // A stream that errors, a body that is not JSON: no readable challenge.
    return undefined
  }
}

function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof value === 'object' && value !== null && typeof (value as ReadableStream).getReader === 'function'
}
