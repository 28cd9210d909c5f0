// A page whose browser blocks popups except inside a user gesture, with the fake OP behind the
// popup. Needs a DOM (happy-dom). Shared by the core, React and Vue tests of 'pending-user-action'.
import { getResponse } from 'msw'
import { vi } from 'vitest'
import { createStepUp, popup, type StepUp, type StepUpOptions } from '../../src/index.js'
import { createFakeApi } from '../msw/fake-api.js'
import { API, CLIENT_ID, createFakeOp, ISSUER, REDIRECT_URI } from '../msw/fake-op.js'

export function blockedPopupPage() {
  const op = createFakeOp()
  const api = createFakeApi(op)
  const router: typeof fetch = async (input, init) => {
    const request = new Request(input, init)
    const response = await getResponse([...op.handlers, ...api.handlers], request)
    if (!response) throw new Error(`unhandled ${request.method} ${request.url}`)
    return response
  }
  /** Like a browser's transient activation, but strict: only synchronously inside click(). */
  let gesture = false
  const popups: Array<{ url: URL; win: { closed: boolean; close: () => void } }> = []
  const blocked: URL[] = []
  const open = vi.spyOn(window, 'open').mockImplementation((url?: string | URL) => {
    if (!gesture) {
      blocked.push(new URL(String(url)))
      return null
    }
    gesture = false // a popup consumes the activation
    const win = { closed: false, close: () => void (win.closed = true) }
    popups.push({ url: new URL(String(url)), win })
    return win as unknown as Window
  })

  return {
    op,
    api,
    open,
    popups,
    blocked,
    client(overrides: Partial<StepUpOptions> = {}): StepUp {
      return createStepUp({
        issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, protect: [API], fetch: router,
        interaction: popup({ fallback: 'user-action' }),
        ...overrides,
      })
    },
    /** Run `fn` as a click handler: window.open is allowed while it runs. */
    click<T>(fn: () => T): T {
      gesture = true
      try {
        return fn()
      } finally {
        gesture = false
      }
    },
    /** The user signs in inside the newest popup; its callback page posts to the opener. */
    async finishPopup(): Promise<void> {
      const { url, win } = popups.at(-1)!
      const callback = await op.interaction(url, { signal: new AbortController().signal, beforeRedirect: async () => {} })
      const data = { type: 'stepup-fetch:callback', url: String(callback) }
      window.dispatchEvent(new MessageEvent('message', { data, origin: new URL(REDIRECT_URI).origin, source: win as unknown as Window }))
    },
  }
}

export type BlockedPopupPage = ReturnType<typeof blockedPopupPage>
