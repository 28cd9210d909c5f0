/**
 * @internal The protocol between the core and `stepup-fetch/ky`; not public API.
 *
 * A `stepUp.fetch()` init carrying this key sends that call's API exchanges (the request and
 * its one retry) through the given function. An HTTP client with a per-attempt timeout (ky's
 * 10 s default) then times each exchange, but never the step-up between them, where the user
 * may take a minute to find their phone.
 */
export const viaExchange: unique symbol = Symbol('stepup-fetch.exchange')

/**
 * Sends one request; `send` is the client's own fetch (`init` carries extra fetch arguments such
 * as undici's `dispatcher` or Next.js `next`). `stepUpRetry`: this is the call's retry after a
 * step-up (or with a token it already held), not its first send, a retry after a refresh or
 * a DPoP nonce retry.
 */
export type Exchange = (request: Request, send: (request: Request, init?: RequestInit) => Promise<Response>, stepUpRetry?: boolean) => Promise<Response>

/** A `RequestInit` that may carry an {@link Exchange}. */
export type ExchangeInit = RequestInit & { [viaExchange]?: Exchange | undefined }
