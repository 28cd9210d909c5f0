/** The popup hand-off protocol between the redirect URI page and the page that opened the popup. */

/** The popup's window name; lets the callback page know it is a popup even without `opener`. */
export const POPUP_NAME = 'stepup-fetch-popup'
/** Same-origin channel, for popups whose `opener` a COOP page on the OP severed. */
export const CHANNEL_NAME = 'stepup-fetch'
/** The popup's message to its opener, `{ type: CALLBACK, url }`: the callback URL. */
export const CALLBACK = 'stepup-fetch:callback'
/** The opener's answer to a callback, `{ type: ACK, state }`: the popup may close. */
export const ACK = 'stepup-fetch:ack'

export interface CallbackMessage {
  type: typeof CALLBACK
  url: string
}

/**
 * The `state` of a callback message's URL (`null` when the URL has none or is not a URL), or
 * `undefined` when `data` is no callback message.
 */
export function callbackState(data: unknown): string | null | undefined {
  // `?.` on a primitive reads undefined: only an object with our type passes.
  if ((data as CallbackMessage | undefined)?.type === CALLBACK && typeof (data as CallbackMessage).url === 'string') {
    try {
      return new URL((data as CallbackMessage).url).searchParams.get('state')
    } catch {
      return null
    }
  }
  return undefined
}

export function openChannel(): BroadcastChannel | undefined {
  return typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(CHANNEL_NAME)
}
