// The popup's end of the hand-off (handoff.ts): runs on the redirect URI page only, so it lives in
// the redirect-mode chunk that handleCallback() loads, not in every page's first load.
import { ACK, CALLBACK, openChannel, POPUP_NAME, type CallbackMessage } from './handoff.js'

/** How long a popup without `opener` waits for the opener to confirm over BroadcastChannel. */
const ACK_WAIT_MS = 1000

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
