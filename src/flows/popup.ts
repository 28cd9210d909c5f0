import { stateMismatch, StepUpError } from '../errors/step-up-error.js'
import { ACK, callbackState, openChannel, POPUP_NAME, type CallbackMessage } from './handoff.js'
import type { Interaction } from './interaction.js'
import { redirect } from './redirect.js'

/** Options for {@link popup}. */
export interface PopupOptions {
  /**
   * Milliseconds to wait for the OP before rejecting with `timeout` and closing the popup.
   * @default undefined (wait as long as the popup is open)
   */
  timeout?: number
  /**
   * `window.open` features.
   * @default a 500×650 popup centred on the current window
   */
  features?: string
  /**
   * What to do when the browser blocks the popup: reject with `popup_blocked` (default),
   * continue as a full-page {@link redirect}, or `'user-action'`: wait, with the client's state
   * in `'pending-user-action'`, until the app calls `getState().continue()` from a click
   * (`<StepUpPrompt>` in `stepup-fetch/react` renders that button).
   * @default undefined
   */
  fallback?: 'redirect' | 'user-action'
}

/** How often `popup.closed` is read, and how long it must stay true (COOP can fake it). */
const POLL_MS = 100
const CLOSED_GRACE_MS = 600

/**
 * The popup interaction (the default): opens the OP in a popup, waits for the redirect URI
 * page to hand the callback back, and closes it.
 *
 * Browsers only let a page open a popup shortly after a user gesture. Call `stepUp.fetch` or
 * `authorize()` from a click handler, or choose `fallback: 'redirect'`; otherwise a blocked
 * popup rejects with `popup_blocked` and the app can offer a "Verify it's you" button that
 * calls `authorize()`.
 *
 * @param options Timeout, window features and the blocked-popup fallback.
 * @returns An {@link Interaction} for `createStepUp({ interaction })`.
 * @example
 * ```ts
 * const stepUp = createStepUp({ ...options, interaction: popup({ fallback: 'redirect' }) })
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function popup(options: PopupOptions = {}): Interaction {
  return (authorizationUrl, ctx) => {
    const expectedState = authorizationUrl.searchParams.get('state')
    const redirectUri = authorizationUrl.searchParams.get('redirect_uri')
    const redirectOrigin = redirectUri ? new URL(redirectUri).origin : undefined
    const open = (): Window | undefined => {
      const win = window.open(authorizationUrl.href, POPUP_NAME, options.features ?? centredFeatures())
      return win && !win.closed ? win : undefined
    }
    /** Wait for the popup's callback (or its closing, the timeout, an abort). */
    const watch = (win: Window): Promise<string> => new Promise<string>((resolve, reject) => {
      const channel = openChannel()
      let closedSince: number | undefined
      let timer: ReturnType<typeof setTimeout> | undefined
      const finish = (settle: () => void, close: boolean): void => {
        window.removeEventListener('message', onMessage)
        ctx.signal.removeEventListener('abort', onAbort)
        if (channel) channel.onmessage = null
        channel?.close()
        clearTimeout(timer)
        clearInterval(poll)
        if (close) {
          try {
            win.close()
          } catch {
            // Already gone.
          }
        }
        settle()
      }
      const accept = (event: MessageEvent<CallbackMessage>): void => {
        if (expectedState) channel?.postMessage({ type: ACK, state: expectedState })
        finish(() => resolve(event.data.url), true)
      }
      const onMessage = (event: MessageEvent): void => {
        // Only our own popup, on the redirect URI's origin, may answer (DESIGN.md "Popup hand-off").
        const state = event.source === win && event.origin === redirectOrigin ? callbackState(event.data) : undefined
        if (state === undefined) return
        if (state !== expectedState) finish(() => reject(stateMismatch()), true)
        else accept(event)
      }
      const onAbort = (): void => finish(() => reject(ctx.signal.reason), true)
      if (channel) {
        channel.onmessage = (event: MessageEvent) => {
          // Other tabs' flows use the same channel: only our state is ours.
          if (callbackState(event.data) === expectedState) accept(event)
        }
      }
      window.addEventListener('message', onMessage)
      ctx.signal.addEventListener('abort', onAbort, { once: true })
      const poll = setInterval(() => {
        if (!win.closed) {
          closedSince = undefined
          return
        }
        closedSince ??= Date.now()
        if (Date.now() - closedSince >= CLOSED_GRACE_MS) {
          finish(() => reject(new StepUpError('popup_closed', 'the popup was closed before the sign-in finished; the request was not retried')), false)
        }
      }, POLL_MS)
      if (options.timeout !== undefined) {
        timer = setTimeout(() => {
          finish(() => reject(new StepUpError('timeout', `the popup did not finish within ${options.timeout} ms; try again`)), true)
        }, options.timeout)
      }
      // Already cancelled: last, once everything finish() tears down exists.
      if (ctx.signal.aborted) onAbort()
    })
    const win = open()
    if (win) return watch(win)
    if (options.fallback === 'redirect') return redirect()(authorizationUrl, ctx)
    const { waitForUser } = ctx
    if (options.fallback === 'user-action' && waitForUser) {
      // Wait for the app's continue(), which runs `open` inside its click handler.
      return new Promise<string>((resolve, reject) => {
        const onAbort = (): void => reject(ctx.signal.reason)
        ctx.signal.addEventListener('abort', onAbort, { once: true })
        waitForUser(() => {
          const opened = open()
          if (!opened) return false
          ctx.signal.removeEventListener('abort', onAbort)
          watch(opened).then(resolve, reject)
          return true
        })
      })
    }
    return Promise.reject(
      new StepUpError(
        'popup_blocked',
        `the browser blocked the popup; call authorize() from a click (a "Verify it's you" button), or use popup({ fallback: 'redirect' }) or popup({ fallback: 'user-action' })`,
      ),
    )
  }
}

function centredFeatures(): string {
  const width = 500
  const height = 650
  const left = Math.max(0, Math.round(window.screenX + (window.outerWidth - width) / 2))
  const top = Math.max(0, Math.round(window.screenY + (window.outerHeight - height) / 2))
  return `popup=yes,width=${width},height=${height},left=${left},top=${top}`
}
