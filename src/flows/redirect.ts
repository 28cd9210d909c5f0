import { codedTypeError } from '../utils/assert.js'
import type { Interaction } from './interaction.js'

/**
 * The full-page redirect interaction: saves the pending flow and the interrupted request in
 * sessionStorage, then navigates to the OP. The promise it returns never settles, because the
 * page is leaving; on the redirect URI, call `stepUp.handleCallback()` and then `stepUp.resume()`.
 *
 * @returns An {@link Interaction} for `createStepUp({ interaction })`.
 * @example
 * ```ts
 * const stepUp = createStepUp({ ...options, interaction: redirect(), storage: 'session' })
 * ```
 * @see [RFC 6749 §4.1](https://www.rfc-editor.org/rfc/rfc6749.html#section-4.1)
 */
/* @__NO_SIDE_EFFECTS__ */
export function redirect(): Interaction {
  return async (authorizationUrl, ctx) => {
    if (typeof window === 'undefined') {
      throw codedTypeError('redirect() needs a browser window; use a custom interaction outside the browser', 'ERR_INVALID_ARG_VALUE')
    }
    await ctx.beforeRedirect()
    if (ctx.signal.aborted) throw ctx.signal.reason
    window.location.assign(authorizationUrl.href)
    // The page is leaving: fetch() and authorize() must not settle with an error meanwhile.
    return new Promise<never>(() => {})
  }
}
