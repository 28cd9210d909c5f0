/** The popup hand-off protocol between the redirect URI page and the page that opened the popup. */

/** The popup's window name; lets the callback page know it is a popup even without `opener`. */
export const POPUP_NAME = 'stepup-fetch-popup'
/** Same-origin channel, for popups whose `opener` a COOP page on the OP severed. */
export const CHANNEL_NAME = 'stepup-fetch'
const CALLBACK = 'stepup-fetch:callback'
/** The opener's answer to a callback, `{ type: ACK, state }`: the popup may close. */
export const ACK = 'stepup-fetch:ack'
/** How long a popup without `opener` waits for the opener to confirm over BroadcastChannel. */
const ACK_WAIT_MS = 1000

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

/**
 * On the redirect URI page: when this window is a step-up popup, forward the callback URL
 * (error callbacks included) to the opener over `postMessage` (to our own origin only) and
 * BroadcastChannel, then close. The popup never redeems the code: only the opener holds the
 * PKCE verifier.
 *
 * @returns true when the callback was handed to an opener.
 */
export async function deliverToOpener(url: URL): Promise<boolean> {
  if (typeof window === 'undefined') return false
  const message: CallbackMessage = { type: CALLBACK, url: url.href }
  const opener = window.opener as Window | null
  const channel = openChannel()
  if (opener) {
    try {
      opener.postMessage(message, window.location.origin)
    } catch {
      // A cross-origin opener throws on some engines; BroadcastChannel still carries it.
    }
  }
  channel?.postMessage(message)
  if (opener || window.name === POPUP_NAME) {
    channel?.close()
    window.close()
    return true
  }
  if (!channel) return false
  // No opener: perhaps a popup whose opener a COOP page severed. Only an opener with a pending
  // flow for this state acknowledges; a plain tab (a stale or forged callback) gets no answer.
  const state = url.searchParams.get('state')
  const acknowledged = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ACK_WAIT_MS)
    channel.onmessage = (event: MessageEvent) => {
      const data = event.data as { type?: unknown; state?: unknown } | null
      if (data?.type === ACK && data.state === state) {
        clearTimeout(timer)
        resolve(true)
      }
    }
  })
  channel.close()
  if (acknowledged) window.close()
  return acknowledged
}
